#include "intake/intake.hpp"

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

Outcome Intake::ingest(std::string_view bytes, std::string_view transport, std::string source_json) {
  const auto started = std::chrono::steady_clock::now();
  Outcome out;
  out.parsed = pipeline::parse(bytes, "", limits_);
  store::RawMessage raw;
  raw.bytes = bytes;
  raw.transport = std::string(transport);
  raw.source_json = std::move(source_json);
  try {
    out.stored = with_store([&](store::Store& s) { return s.store(raw, out.parsed); });
  } catch (const store::Error& e) {
    if (e.transient()) metrics_.deferred(transport);
    else metrics_.failed(transport);
    throw;
  }
  ++writes_;
  metrics_.stored(transport, out.parsed, out.stored,
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return out;
}

}  // namespace tlsrpt::intake
