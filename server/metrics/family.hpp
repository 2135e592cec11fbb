// A metric family a part defines beside its counts, without depending on the registry: serve
// registers every part's families with metrics::Metrics::add_families. Header-only, so that the
// listeners, the poller and the verifier need not link the registry.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace tlsrpt::metrics {

struct Family {
  std::string name, help;
  bool counter = true;  // else a gauge
  std::function<double()> read;  // called at every scrape; what it reads must outlive the scrapes
  std::vector<std::pair<std::string, std::string>> labels = {};  // families of one name differ in these
};
using Families = std::vector<Family>;

// The reader of a count kept in an atomic (it must outlive the scrapes).
template <class Atomic>
std::function<double()> reading(const Atomic& value) {
  return [&value] { return static_cast<double>(value.load()); };
}

}  // namespace tlsrpt::metrics
