#include "mime/mime.hpp"

#include <mimetic/mimetic.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>

#include "unpack/unpack.hpp"

namespace tlsrpt::mime {
namespace {

using report::Reason;
using report::Rejection;
using Params = std::vector<std::pair<std::string, std::string>>;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Unfolds and trims a header value: line breaks dropped, tabs to spaces.
std::string clean(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\r' || c == '\n') continue;
    out.push_back(c == '\t' ? ' ' : c);
  }
  const auto b = out.find_first_not_of(' ');
  if (b == std::string::npos) return {};
  return out.substr(b, out.find_last_not_of(' ') - b + 1);
}

// Length of the header section: up to and including the empty line that ends it. A line that
// is neither a field ("name:") nor a continuation ends the header early (body without a blank
// line, as broken generators produce).
std::size_t header_length(std::string_view s) {
  std::size_t pos = 0;
  while (pos < s.size()) {
    const auto nl = s.find('\n', pos);
    const std::size_t end = nl == std::string_view::npos ? s.size() : nl + 1;
    std::string_view line = s.substr(pos, end - pos);
    if (line == "\n" || line == "\r\n") return end;
    const bool continuation = line[0] == ' ' || line[0] == '\t';
    if (!continuation) {
      const auto colon = line.find(':');
      const auto space = line.find_first_of(" \t\r\n");
      if (colon == std::string_view::npos || colon == 0 || (space != std::string_view::npos && space < colon))
        return pos;
    }
    pos = end;
  }
  return s.size();
}


std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && unpack::hex_value(s[i + 1]) >= 0 && unpack::hex_value(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(unpack::hex_value(s[i + 1]) * 16 + unpack::hex_value(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// Bodies of the parts of a multipart body; `closed` tells whether the closing delimiter came.
struct Split {
  std::vector<std::string_view> parts;
  bool closed = false;
};

Split split_multipart(std::string_view body, std::string_view boundary, std::size_t max_parts) {
  Split out;
  std::size_t part_start = std::string_view::npos;  // npos while in the preamble
  std::size_t pos = 0;
  while (pos < body.size()) {
    const auto nl = body.find('\n', pos);
    const std::size_t line_end = nl == std::string_view::npos ? body.size() : nl + 1;
    std::string_view line = body.substr(pos, line_end - pos);
    if (line.size() >= 2 + boundary.size() && line[0] == '-' && line[1] == '-' &&
        line.substr(2, boundary.size()) == boundary) {
      std::string_view rest = line.substr(2 + boundary.size());
      const bool closing = rest.size() >= 2 && rest[0] == '-' && rest[1] == '-';
      if (closing) rest.remove_prefix(2);
      // Only transport padding may follow; otherwise this is a longer, different boundary.
      if (rest.find_first_not_of(" \t\r\n") == std::string_view::npos) {
        if (part_start != std::string_view::npos) {
          // The line break before the delimiter belongs to the delimiter.
          std::size_t end = pos;
          if (end > part_start && body[end - 1] == '\n') --end;
          if (end > part_start && body[end - 1] == '\r') --end;
          out.parts.push_back(body.substr(part_start, end - part_start));
          if (out.parts.size() > max_parts) return out;  // the caller rejects; stop early
        }
        if (closing) {
          out.closed = true;
          return out;
        }
        part_start = line_end;
      }
    }
    pos = line_end;
  }
  if (part_start != std::string_view::npos) out.parts.push_back(body.substr(part_start));
  return out;
}

class Parser {
 public:
  Parser(const report::Limits& limits, Message& msg) : limits_(limits), msg_(msg) {}

  std::optional<Rejection> entity(std::string_view raw, std::string path, unsigned depth,
                                  std::size_t message, bool starts_message, std::size_t parent) {
    if (++count_ > limits_.mime_parts)
      return Rejection{Reason::mime_too_many_parts,
                       "more than " + std::to_string(limits_.mime_parts) + " MIME entities"};
    const std::size_t hlen = header_length(raw);
    if (hlen > limits_.header_size)
      return Rejection{Reason::header_too_large,
                       "header section of entity " + (path.empty() ? std::string("0") : path) +
                           " exceeds " + std::to_string(limits_.header_size) + " bytes"};
    const std::string_view header_text = raw.substr(0, hlen);
    mimetic::MimeEntity me;
    me.load(header_text.begin(), header_text.end(),
            mimetic::imBody | mimetic::imChildParts | mimetic::imPreamble | mimetic::imEpilogue);
    const mimetic::Header& h = me.header();

    if (starts_message) {
      message = msg_.messages.size();
      MessageHeaders mh;
      auto field = [&h](const char* name) {
        return h.hasField(name) ? clean(h.field(name).value()) : std::string();
      };
      mh.tls_report_domain = field("TLS-Report-Domain");
      mh.tls_report_submitter = field("TLS-Report-Submitter");
      mh.subject = decode_encoded_words(field("Subject"));
      mh.message_id = field("Message-ID");
      mh.from = field("From");
      mh.date = field("Date");
      msg_.messages.push_back(std::move(mh));
    }

    Entity e;
    e.path = path;
    e.depth = depth;
    e.message = message;
    e.parent = parent;
    e.body = raw.substr(hlen);
    const auto& ct = h.contentType();
    if (h.hasField("Content-Type") && !ct.type().empty()) {
      e.media_type = lower(ct.type()) + "/" + lower(ct.subtype());
    } else {
      e.media_type = "text/plain";
    }
    Params ct_params, cd_params;
    for (const auto& p : ct.paramList()) ct_params.emplace_back(lower(p.name()), p.value());
    if (h.hasField("Content-Disposition"))
      for (const auto& p : h.contentDisposition().paramList())
        cd_params.emplace_back(lower(p.name()), p.value());
    e.filename = decode_parameter(cd_params, "filename");
    if (e.filename.empty()) e.filename = decode_parameter(ct_params, "name");
    if (h.hasField("Content-Description")) e.description = clean(h.field("Content-Description").value());
    e.transfer_encoding =
        h.hasField("Content-Transfer-Encoding") ? lower(clean(h.field("Content-Transfer-Encoding").value())) : "7bit";
    if (e.transfer_encoding.empty()) e.transfer_encoding = "7bit";

    const bool multipart = e.media_type.starts_with("multipart/");
    const bool rfc822 = e.media_type == "message/rfc822" || e.media_type == "message/global";
    const std::string boundary = multipart ? decode_parameter(ct_params, "boundary") : std::string();
    if (multipart) e.report_type = lower(decode_parameter(ct_params, "report-type"));
    e.container = (multipart && !boundary.empty()) || rfc822;
    if (e.container && depth + 1 > limits_.mime_depth)
      return Rejection{Reason::mime_too_deep,
                       "MIME containers nested deeper than " + std::to_string(limits_.mime_depth)};

    const std::string_view body = e.body;
    const std::string encoding = e.transfer_encoding;
    const std::size_t self = msg_.entities.size();
    msg_.entities.push_back(std::move(e));

    auto child_path = [&path](std::size_t i) {
      return (path.empty() ? std::string() : path + ".") + std::to_string(i + 1);
    };
    if (multipart && !boundary.empty()) {
      const Split split = split_multipart(body, boundary, limits_.mime_parts);
      for (std::size_t i = 0; i < split.parts.size(); ++i)
        if (auto r = entity(split.parts[i], child_path(i), depth + 1, message, false, self)) return r;
    } else if (rfc822) {
      std::string_view inner = body;
      if (encoding == "base64" || encoding == "quoted-printable") {
        // Not allowed by RFC 2046, but gateways do it: decode, then read the message inside.
        std::string& buf = msg_.storage.emplace_back();
        auto r = encoding == "base64" ? unpack::decode_base64(body, buf, limits_.decoded_size)
                                      : unpack::decode_quoted_printable(body, buf, limits_.decoded_size);
        if (r) return r;
        inner = buf;
      }
      if (auto r = entity(inner, child_path(0), depth + 1, message, true, self)) return r;
    }
    return std::nullopt;
  }

 private:
  const report::Limits& limits_;
  Message& msg_;
  std::uint64_t count_ = 0;
};

}  // namespace

std::string decode_encoded_words(std::string_view text) {
  // =?charset?B|Q?data?= ; the charset is not converted (reports use ASCII and UTF-8).
  std::string out;
  std::size_t pos = 0;
  bool last_was_word = false;
  while (pos < text.size()) {
    const auto start = text.find("=?", pos);
    if (start == std::string_view::npos) break;
    const auto q1 = text.find('?', start + 2);
    const auto q2 = q1 == std::string_view::npos ? q1 : text.find('?', q1 + 1);
    const auto end = q2 == std::string_view::npos ? q2 : text.find("?=", q2 + 1);
    if (end == std::string_view::npos || q2 != q1 + 2) {
      out.append(text.substr(pos, start + 2 - pos));
      pos = start + 2;
      last_was_word = false;
      continue;
    }
    std::string_view between = text.substr(pos, start - pos);
    // White space between two encoded words is dropped (RFC 2047 section 6.2).
    if (!(last_was_word && between.find_first_not_of(" \t") == std::string_view::npos)) out.append(between);
    const char enc = static_cast<char>(std::tolower(static_cast<unsigned char>(text[q1 + 1])));
    std::string_view data = text.substr(q2 + 1, end - q2 - 1);
    std::string decoded;
    bool ok = true;
    if (enc == 'b') {
      ok = !unpack::decode_base64(data, decoded, data.size());
    } else if (enc == 'q') {
      std::string tmp(data);
      std::replace(tmp.begin(), tmp.end(), '_', ' ');
      ok = !unpack::decode_quoted_printable(tmp, decoded, tmp.size());
    } else {
      ok = false;
    }
    if (ok) {
      out.append(decoded);
    } else {
      out.append(text.substr(start, end + 2 - start));
    }
    pos = end + 2;
    last_was_word = ok;
  }
  out.append(text.substr(std::min(pos, text.size())));
  return out;
}

std::string decode_parameter(const Params& params, std::string_view name) {
  std::string plain;
  bool have_plain = false;
  std::map<unsigned, std::pair<std::string, bool>> sections;  // index -> (value, extended)
  std::string extended_whole;
  bool have_extended_whole = false;
  for (const auto& [key, value] : params) {
    if (key.size() < name.size() || key.compare(0, name.size(), name) != 0) continue;
    std::string_view rest = std::string_view(key).substr(name.size());
    if (rest.empty()) {
      if (!have_plain) plain = value;
      have_plain = true;
    } else if (rest == "*") {
      extended_whole = value;
      have_extended_whole = true;
    } else if (rest[0] == '*') {
      rest.remove_prefix(1);
      const bool ext = !rest.empty() && rest.back() == '*';
      if (ext) rest.remove_suffix(1);
      if (rest.empty() || rest.size() > 3 || !std::all_of(rest.begin(), rest.end(), ::isdigit)) continue;
      sections.emplace(static_cast<unsigned>(std::stoul(std::string(rest))), std::make_pair(value, ext));
    }
  }
  // value of an extended section 0 or of `name*`: charset'language'percent-encoded
  auto strip_charset = [](std::string_view v) -> std::string_view {
    const auto a = v.find('\'');
    const auto b = a == std::string_view::npos ? a : v.find('\'', a + 1);
    return b == std::string_view::npos ? v : v.substr(b + 1);
  };
  if (have_extended_whole) return percent_decode(strip_charset(extended_whole));
  if (!sections.empty()) {
    std::string out;
    unsigned expect = 0;
    for (const auto& [index, section] : sections) {
      if (index != expect++) break;  // a gap ends the value (RFC 2231 section 3)
      std::string_view v = section.first;
      if (section.second) {
        out += percent_decode(index == 0 ? strip_charset(v) : v);
      } else {
        out += v;
      }
    }
    return out;
  }
  return have_plain ? decode_encoded_words(plain) : std::string();
}

std::variant<Message, report::Rejection> parse(std::string_view raw, const report::Limits& limits) {
  Message msg;
  Parser parser(limits, msg);
  if (auto r = parser.entity(raw, "", 0, 0, true, Entity::npos)) return *r;
  return msg;
}

}  // namespace tlsrpt::mime
