// Transfer decoding (base64, quoted-printable) and gunzip with output caps.
//
// Purpose: turn the bytes of a report part into the report's JSON text.
// Trusts: nothing. Every output is capped before it is written (decoded_size, inflated_size,
// inflate_ratio), so a bomb costs at most the cap in memory and the time to produce it.
// Errors: Rejection with bad-transfer-encoding, decoded-too-large, gzip-corrupt,
// inflated-too-large or inflate-ratio-exceeded. Outputs keep `json_padding` spare bytes of
// capacity so that simdjson can read them in place.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "report/limits.hpp"
#include "report/quirk.hpp"
#include "report/reason.hpp"

namespace tlsrpt::unpack {

inline constexpr std::size_t json_padding = 64;  // == SIMDJSON_PADDING; checked in json/

using report::Rejection;

// Strict base64 (RFC 2045): whitespace and line breaks are skipped, padding is optional, any
// other character outside the alphabet is an error.
std::optional<Rejection> decode_base64(std::string_view in, std::string& out, std::size_t max_out);

// Quoted-printable (RFC 2045). Lenient like every real reader: a '=' not followed by two hex
// digits or a line break is kept literally. Only the size cap can fail.
std::optional<Rejection> decode_quoted_printable(std::string_view in, std::string& out,
                                                 std::size_t max_out);

bool is_gzip(std::string_view data);

// The value of a hexadecimal digit (either case), or -1.
int hex_value(char c);  // starts with the gzip magic 1f 8b

// Inflates every gzip member of `in` into the first `produced` bytes of `buf`; records
// gzip-multi-member and gzip-trailing-garbage quirks. `buf` only grows (at least produced +
// json_padding bytes), so a buffer reused across calls is neither reallocated nor zero-filled.
std::optional<Rejection> gunzip(std::string_view in, std::string& buf, std::size_t& produced,
                                const report::Limits& limits, report::QuirkSet& quirks);

}  // namespace tlsrpt::unpack
