// Limits on untrusted input: every dimension of a message or report that an attacker controls
// has a named limit here, with its default. Exceeding one is a rejection with its own reason.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace tlsrpt::report {

inline constexpr std::uint64_t KiB = 1024;
inline constexpr std::uint64_t MiB = 1024 * KiB;

// X(name, unit, default, description); unit is `bytes` or `count`.
#define TLSRPT_LIMITS(X)                                                                           \
  X(message_size, bytes, 20 * MiB, "largest raw message (or bare report file) read")              \
  X(header_size, bytes, 1 * MiB, "largest header section of one MIME entity")                     \
  X(mime_depth, count, 8, "deepest nesting of multipart and message/rfc822 containers")           \
  X(mime_parts, count, 64, "most MIME entities in one message")                                    \
  X(decoded_size, bytes, 20 * MiB, "largest report part after base64/quoted-printable decoding")  \
  X(inflated_size, bytes, 16 * MiB, "largest report after gunzip")                                 \
  X(inflate_ratio, count, 250, "largest gunzip expansion ratio, checked once output passes 1 MiB") \
  X(json_depth, count, 16, "deepest JSON nesting of arrays and objects")                           \
  X(policies, count, 100, "most policies in one report")                                           \
  X(failure_details, count, 20000, "most failure-details in one policy")                           \
  X(report_failure_details, count, 20000, "most failure-details in one report, all policies together") \
  X(rollup_rows, count, 1000, "most rows one report adds to the rollups (distinct policy domain, type, result, MX)") \
  X(string_length, bytes, 64 * KiB, "longest string value in a report")

enum class LimitUnit { bytes, count };

struct Limits {
#define TLSRPT_X(name, unit, def, desc) std::uint64_t name = def;
  TLSRPT_LIMITS(TLSRPT_X)
#undef TLSRPT_X
};

struct LimitInfo {
  std::string_view name;
  LimitUnit unit;
  std::uint64_t default_value;
  std::string_view description;
  std::uint64_t Limits::*field;
};

std::span<const LimitInfo> all_limits();

// Parses "NAME=VALUE" (VALUE may carry a K, M or G suffix, powers of 1024) into `limits`.
// Returns an error message, or nothing on success.
std::optional<std::string> set_limit(Limits& limits, std::string_view assignment);

// Applies TLSRPT_LIMIT_<NAME> environment variables (upper-case names). Returns an error message.
std::optional<std::string> apply_limit_environment(Limits& limits);

}  // namespace tlsrpt::report
