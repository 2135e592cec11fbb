#pragma once

#include <cstdint>
#include <string_view>

#include "report/limits.hpp"

namespace tlsrpt::fuzz {

inline std::string_view view(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Smaller limits than the defaults keep each execution fast while exercising every limit path.
inline const report::Limits& limits() {
  static const report::Limits l = [] {
    report::Limits x;
    x.message_size = 1 * report::MiB;
    x.decoded_size = 1 * report::MiB;
    x.inflated_size = 4 * report::MiB;
    return x;
  }();
  return l;
}

}  // namespace tlsrpt::fuzz
