// What intake does with DKIM under dkim.mode: verify a message that carries reports (junk that
// carries none costs no key lookups) and, in require mode, turn an unauthenticated one into a
// rejection with a named reason, so that it is kept but not counted as a report.
#pragma once

#include "metrics/family.hpp"

#include <memory>
#include <optional>
#include <string_view>

#include "dkim/verify.hpp"
#include "pipeline/pipeline.hpp"

namespace tlsrpt::dkim {

enum class Mode { off, record, require };
std::string_view to_string(Mode mode);
std::optional<Mode> mode_from_string(std::string_view name);

class Gate {
 public:
  Gate(Mode mode, Settings settings);  // starts a Verifier unless off (throws as Verifier does)
  Mode mode() const { return mode_; }

  // nullopt when not verified (off, no report in the input, or a bare report file given on the
  // command line: `mail` false and the input not a message). In require mode, an accepted
  // result that is not `pass` becomes one rejection: dkim-temperror when a key lookup failed
  // for now, dkim-not-authenticated otherwise. Mail (SMTP, IMAP) is always verified, whatever
  // its bytes look like.
  std::optional<Verdict> apply(std::string_view message, std::int64_t arrival, pipeline::Result& parsed, bool mail);
  Verifier::Stats stats() const;
  // Verifier::prefetch, or `done` at once when off.
  void prefetch(std::string_view message, std::function<void()> done);

 private:
  Mode mode_;
  std::unique_ptr<Verifier> verifier_;
};

// The key lookup counts' metric families (tlsrpt_dkim_key_*); `g` must outlive the scrapes.
metrics::Families families(const Gate& g);

}  // namespace tlsrpt::dkim
