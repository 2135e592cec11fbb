#include "unpack/unpack.hpp"

#include <zlib.h>

#include <array>
#include <cstring>
#include <memory>

namespace tlsrpt::unpack {
namespace {

using report::Reason;

Rejection too_large(Reason reason, std::string_view what, std::size_t limit) {
  return Rejection{reason, std::string(what) + " exceeds " + std::to_string(limit) + " bytes"};
}

constexpr std::array<signed char, 256> make_base64_table() {
  std::array<signed char, 256> t{};
  for (auto& v : t) v = -1;
  constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(alphabet[i])] = static_cast<signed char>(i);
  t[' '] = t['\t'] = t['\r'] = t['\n'] = -2;  // skipped
  t['='] = -3;
  return t;
}
constexpr auto base64_table = make_base64_table();


// A z_stream per thread, reset between uses: inflateInit allocates ~40 KiB each time otherwise.
struct Inflater {
  z_stream zs{};
  bool ready = false;
  Inflater() { ready = inflateInit2(&zs, 15 + 16) == Z_OK; }
  ~Inflater() {
    if (ready) inflateEnd(&zs);
  }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;
};

}  // namespace

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::optional<Rejection> decode_base64(std::string_view in, std::string& out, std::size_t max_out) {
  out.clear();
  const std::size_t estimate = in.size() / 4 * 3 + 3;
  if (estimate <= max_out + 3) out.reserve(estimate + json_padding);
  std::uint32_t acc = 0;
  int n = 0;  // sextets in acc
  bool padded = false;
  for (std::size_t i = 0; i < in.size(); ++i) {
    const auto c = static_cast<unsigned char>(in[i]);
    const int v = base64_table[c];
    if (v >= 0) {
      if (padded)
        return Rejection{Reason::bad_transfer_encoding,
                         "base64 data after padding at offset " + std::to_string(i)};
      acc = (acc << 6) | static_cast<std::uint32_t>(v);
      if (++n == 4) {
        if (out.size() + 3 > max_out) return too_large(Reason::decoded_too_large, "decoded part", max_out);
        const char bytes[3] = {static_cast<char>(acc >> 16), static_cast<char>(acc >> 8),
                               static_cast<char>(acc)};
        out.append(bytes, 3);
        acc = 0;
        n = 0;
      }
    } else if (v == -3) {
      padded = true;
    } else if (v != -2) {
      return Rejection{Reason::bad_transfer_encoding, "invalid base64 character " +
                                                          report::printable(in.substr(i, 1)) +
                                                          " at offset " + std::to_string(i)};
    }
  }
  if (n == 1) return Rejection{Reason::bad_transfer_encoding, "base64 data ends mid-byte"};
  if (n > 1) {
    if (out.size() + 2 > max_out) return too_large(Reason::decoded_too_large, "decoded part", max_out);
    acc <<= 6 * (4 - n);
    out.push_back(static_cast<char>(acc >> 16));
    if (n == 3) out.push_back(static_cast<char>(acc >> 8));
  }
  return std::nullopt;
}

std::optional<Rejection> decode_quoted_printable(std::string_view in, std::string& out,
                                                 std::size_t max_out) {
  out.clear();
  if (in.size() <= max_out) out.reserve(in.size() + json_padding);
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '=') {
      // Soft line break: '=' then optional trailing whitespace then a line break.
      std::size_t j = i + 1;
      while (j < in.size() && (in[j] == ' ' || in[j] == '\t')) ++j;
      if (j < in.size() && (in[j] == '\r' || in[j] == '\n')) {
        if (in[j] == '\r' && j + 1 < in.size() && in[j + 1] == '\n') ++j;
        i = j;
        continue;
      }
      if (j == in.size()) break;  // '=' at the very end
      if (i + 2 < in.size() && hex_value(in[i + 1]) >= 0 && hex_value(in[i + 2]) >= 0) {
        c = static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
        i += 2;
      }
    }
    if (out.size() == max_out) return too_large(Reason::decoded_too_large, "decoded part", max_out);
    out.push_back(c);
  }
  return std::nullopt;
}

bool is_gzip(std::string_view data) {
  return data.size() >= 2 && static_cast<unsigned char>(data[0]) == 0x1f &&
         static_cast<unsigned char>(data[1]) == 0x8b;
}

std::optional<Rejection> gunzip(std::string_view in, std::string& out, std::size_t& produced,
                                const report::Limits& limits, report::QuirkSet& quirks) {
  thread_local Inflater inflater;
  if (!inflater.ready) return Rejection{Reason::gzip_corrupt, "zlib could not be initialised"};
  z_stream& zs = inflater.zs;
  const std::size_t cap = limits.inflated_size;
  // Guess the size from the gzip trailer (ISIZE, mod 2^32) to allocate once when it is sane.
  std::size_t guess = in.size() * 4;
  if (in.size() >= 18) {
    const auto* t = reinterpret_cast<const unsigned char*>(in.data() + in.size() - 4);
    const std::size_t isize = t[0] | (t[1] << 8) | (t[2] << 16) | (std::size_t{t[3]} << 24);
    if (isize <= cap) guess = isize;
  }
  const std::size_t want = std::min(std::max<std::size_t>(guess, 256), cap) + json_padding;
  if (out.size() < want) out.resize(want);

  produced = 0;
  std::size_t consumed = 0;
  int members = 0;
  while (consumed < in.size()) {
    if (members > 0) {
      std::string_view rest = in.substr(consumed);
      if (!is_gzip(rest)) {
        // Padding (NULs, line breaks) or junk after the last member: the report is complete.
        quirks.add(report::Quirk::gzip_trailing_garbage);
        break;
      }
      quirks.add(report::Quirk::gzip_multi_member);
    }
    inflateReset(&zs);
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data() + consumed));
    zs.avail_in = static_cast<uInt>(std::min<std::size_t>(in.size() - consumed, UINT32_MAX));
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
      std::size_t room = std::min(out.size() - json_padding, cap);
      if (produced == room) {
        if (produced >= cap) return too_large(Reason::inflated_too_large, "gunzipped report", cap);
        out.resize(std::min(produced * 2, cap) + json_padding);
        room = std::min(out.size() - json_padding, cap);
      }
      zs.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
      zs.avail_out = static_cast<uInt>(std::min<std::size_t>(room - produced, UINT32_MAX));
      const uInt before = zs.avail_out;
      rc = inflate(&zs, Z_NO_FLUSH);
      produced += before - zs.avail_out;
      if (rc == Z_BUF_ERROR && zs.avail_in == 0 && zs.avail_out != 0)
        return Rejection{Reason::gzip_corrupt, "gzip data is truncated"};
      if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
        return Rejection{Reason::gzip_corrupt,
                         std::string("zlib: ") + (zs.msg ? zs.msg : "error " + std::to_string(rc))};
      const std::size_t in_so_far = consumed + (in.size() - consumed - zs.avail_in);
      if (produced > report::MiB && produced / std::max<std::size_t>(in_so_far, 1) > limits.inflate_ratio)
        return Rejection{Reason::inflate_ratio_exceeded,
                         "gzip expands more than " + std::to_string(limits.inflate_ratio) + " times"};
    }
    consumed = in.size() - zs.avail_in;
    ++members;
  }
  return std::nullopt;
}

}  // namespace tlsrpt::unpack
