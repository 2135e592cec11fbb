#include "intake/intake.hpp"

#include "store/queries.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>

namespace tlsrpt::intake {
Outcome Intake::ingest(std::string_view bytes, std::string_view transport, std::string source_json, std::string client,
                       std::optional<std::int64_t> arrival, bool submitter) {
  return std::move(ingest_batch({{bytes, std::move(source_json), std::move(client), arrival, submitter}}, transport).front());
}

report::MxOf Intake::mx_of() {
  std::shared_ptr<const store::KnownMx> known;
  {
    std::lock_guard lock(mx_mutex_);
    const auto now = std::chrono::steady_clock::now();
    if (!mx_ || now - mx_read_ >= std::chrono::minutes(1)) {
      mx_read_ = now;  // (a failed read is not retried before the minute is out either)
      try {
        mx_ = std::make_shared<const store::KnownMx>(pool_.with_store([](store::Store& s) { return store::known_mx(s); }));
      } catch (const store::Error&) {
        if (!mx_) mx_ = std::make_shared<const store::KnownMx>();
      }
    }
    known = mx_;
  }
  return store::mx_lookup(std::move(known));
}

std::vector<Outcome> Intake::ingest_batch(const std::vector<Input>& inputs, std::string_view transport) {
  const auto started = std::chrono::steady_clock::now();
  std::vector<Outcome> out(inputs.size());
  const report::MxOf mx = mx_of();
  const std::int64_t now = std::time(nullptr);
  std::vector<store::RawMessage> raws(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    out[i].parsed = pipeline::parse(inputs[i].bytes, "", limits_, mx);
    store::RawMessage& raw = raws[i];
    if (transport == "https") {  // no DKIM over HTTPS: a report is stored with result none
      if (out[i].parsed.accepted()) raw.dkim = "none";
    } else if (auth_.gate) {
      const std::int64_t arrival = inputs[i].arrival.value_or(dkim::arrival_from_received(inputs[i].bytes, now).value_or(now));
      out[i].dkim = auth_.gate->apply(inputs[i].bytes, arrival, out[i].parsed, true);
      if (out[i].dkim) {
        raw.dkim = std::string(dkim::to_string(out[i].dkim->result));
        raw.dkim_json = out[i].dkim->to_json();
        metrics_.dkim(transport, *out[i].dkim);
        if (transport == "smtp" && !out[i].parsed.accepted() &&
            out[i].parsed.rejections.front().reason == report::Reason::dkim_temperror)
          throw DkimDeferred(out[i].parsed.rejections.front().detail);
      }
    }
  }
  try {
    pool_.with_store([&](store::Store& s) {
      std::vector<const pipeline::Result*> results;
      for (std::size_t i = 0; i < inputs.size(); ++i) {
        store::RawMessage& raw = raws[i];
        raw.bytes = inputs[i].bytes;
        raw.transport = std::string(transport);
        raw.source_json = inputs[i].source_json;
        raw.client = inputs[i].client;
        raw.quota = quota_;
        results.push_back(&out[i].parsed);
      }
      s.begin_batch();
      try {
        const auto stored = s.store_all(raws, results);
        for (std::size_t i = 0; i < inputs.size(); ++i) out[i].stored = stored[i];
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
  pool_.changed();
  // libpq keeps a connection's largest buffer (the hex text of the largest body it carried) for
  // the connection's life: after large inputs, a fresh connection next time instead.
  std::size_t bytes = 0;
  for (const auto& in : inputs) bytes += in.bytes.size();
  if (bytes > large_input) store::Pool::drop_connection();
  const double each = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() /
                      static_cast<double>(std::max<std::size_t>(1, inputs.size()));
  for (std::size_t i = 0; i < out.size(); ++i) {
    const Outcome& o = out[i];
    const bool authenticated = transport == "https" ? inputs[i].submitter : !o.dkim || o.dkim->result == dkim::Result::pass;
    metrics_.stored(transport, o.parsed, o.stored, each, !auth_.alert_on_authenticated || authenticated);
  }
  return out;
}

}  // namespace tlsrpt::intake
