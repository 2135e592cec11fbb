#include "dkim/gate.hpp"

namespace tlsrpt::dkim {

std::string_view to_string(Mode mode) {
  switch (mode) {
    case Mode::off: return "off";
    case Mode::record: return "record";
    case Mode::require: break;
  }
  return "require";
}

std::optional<Mode> mode_from_string(std::string_view name) {
  for (Mode m : {Mode::off, Mode::record, Mode::require})
    if (to_string(m) == name) return m;
  return std::nullopt;
}

Gate::Gate(Mode mode, Settings settings) : mode_(mode) {
  if (mode != Mode::off) verifier_ = std::make_unique<Verifier>(std::move(settings));
}

Verifier::Stats Gate::stats() const { return verifier_ ? verifier_->stats() : Verifier::Stats{}; }

void Gate::prefetch(std::string_view message, std::function<void()> done) {
  if (verifier_) verifier_->prefetch(message, std::move(done));
  else done();
}

std::optional<Verdict> Gate::apply(std::string_view message, std::int64_t arrival, pipeline::Result& parsed, bool mail) {
  if (!verifier_ || !parsed.accepted()) return std::nullopt;
  if (!mail && parsed.reports.front().origin.kind != pipeline::InputKind::message) return std::nullopt;
  Verdict v = verifier_->verify(message, arrival);
  if (mode_ == Mode::require && v.result != Result::pass) {
    const Signature* used = v.used();
    std::string detail = "DKIM " + std::string(to_string(v.result));
    if (used) detail += " (d=" + report::printable(used->domain) + (used->error ? ": " + std::string(to_string(*used->error)) : "") + ")";
    parsed.reports.clear();
    parsed.rejections.assign(1, report::Rejection{v.result == Result::temperror ? report::Reason::dkim_temperror
                                                                                : report::Reason::dkim_not_authenticated,
                                                  std::move(detail)});
  }
  return v;
}

metrics::Families families(const Gate& g) {
  return {
      {"tlsrpt_dkim_key_lookups_total", "DKIM key lookups sent to DNS (not answered from the cache)", true,
       [&g] { return static_cast<double>(g.stats().lookups); }},
      {"tlsrpt_dkim_key_cache_hits_total", "DKIM key lookups answered from the cache", true,
       [&g] { return static_cast<double>(g.stats().cached); }},
      {"tlsrpt_dkim_key_temperrors_total",
       "DKIM key lookups that failed for now (SERVFAIL, bogus, timeout, the message's deadline)", true,
       [&g] { return static_cast<double>(g.stats().temperrors); }},
      {"tlsrpt_dkim_key_lookups_silenced_total",
       "DKIM key lookups answered temperror without asking, because a lookup under the same organisational domain got "
       "no answer within the last 30 s (counted in the temperrors too)",
       true, [&g] { return static_cast<double>(g.stats().silenced); }},
  };
}

}  // namespace tlsrpt::dkim
