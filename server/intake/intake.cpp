#include "intake/intake.hpp"

#include <algorithm>
#include <chrono>
#include <memory>

namespace tlsrpt::intake {
namespace {
thread_local std::unique_ptr<store::Store> thread_store;
}

store::Store& Intake::connection() {
  if (!thread_store) thread_store = std::make_unique<store::Store>(url_);
  return *thread_store;
}

void Intake::drop_connection() { thread_store.reset(); }

Outcome Intake::ingest(std::string_view bytes, std::string_view transport, std::string source_json, std::string client) {
  return std::move(ingest_batch({{bytes, std::move(source_json), std::move(client)}}, transport).front());
}

std::vector<Outcome> Intake::ingest_batch(const std::vector<Input>& inputs, std::string_view transport) {
  const auto started = std::chrono::steady_clock::now();
  std::vector<Outcome> out(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) out[i].parsed = pipeline::parse(inputs[i].bytes, "", limits_);
  try {
    with_store([&](store::Store& s) {
      s.begin_batch();
      try {
        for (std::size_t i = 0; i < inputs.size(); ++i) {
          store::RawMessage raw;
          raw.bytes = inputs[i].bytes;
          raw.transport = std::string(transport);
          raw.source_json = inputs[i].source_json;
          raw.client = inputs[i].client;
          raw.quota = quota_;
          out[i].stored = s.store(raw, out[i].parsed);
        }
        s.commit_batch();
      } catch (...) {
        s.abort_batch();
        throw;
      }
      return 0;
    });
  } catch (const store::Error& e) {
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      if (e.transient()) metrics_.deferred(transport);
      else metrics_.failed(transport);
    }
    throw;
  }
  ++writes_;
  // libpq keeps a connection's largest buffer (the hex text of the largest body it carried) for
  // the connection's life: after large inputs, a fresh connection next time instead.
  std::size_t bytes = 0;
  for (const auto& in : inputs) bytes += in.bytes.size();
  if (bytes > large_input) drop_connection();
  const double each = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() /
                      static_cast<double>(std::max<std::size_t>(1, inputs.size()));
  for (const auto& o : out) metrics_.stored(transport, o.parsed, o.stored, each);
  return out;
}

}  // namespace tlsrpt::intake
