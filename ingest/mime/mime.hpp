// MIME reading (RFC 5322, 2045, 2046, 2231): a message's entity tree, flattened.
//
// Purpose: find every part of a message and what it claims to be, without decoding bodies.
// Trusts: nothing. mimetic parses each header section; bodies are split on boundaries here, with
// the depth (mime_depth), entity count (mime_parts) and header size (header_size) bounded first,
// because mimetic's own body parser recurses without a limit. Splitting is linear in the input.
// Works on CRLF and LF-only input. Bodies are views into the caller's buffer (or into decoded
// buffers kept in Message::storage), so the input must outlive the Message.
// Errors: header-too-large, mime-too-deep, mime-too-many-parts, bad-transfer-encoding,
// decoded-too-large.
#pragma once

#include <deque>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "report/limits.hpp"
#include "report/reason.hpp"

namespace tlsrpt::mime {

// Headers of one RFC 5322 message (the top one, or one forwarded inside message/rfc822).
struct MessageHeaders {
  std::string tls_report_domain;
  std::string tls_report_submitter;
  std::string subject;
  std::string message_id;
  std::string from;
  std::string date;
};

struct Entity {
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
  std::string path;               // "" for the top entity, then "1", "2", "2.1" ... (IMAP-style)
  std::string media_type;         // lower-case "type/subtype"; "text/plain" when absent
  std::string report_type;        // report-type parameter of multipart/report, lower-case
  std::string filename;           // Content-Disposition filename, else Content-Type name; decoded
  std::string description;        // Content-Description, unfolded
  std::string transfer_encoding;  // lower-case; "7bit" when absent
  std::string_view body;          // raw body (still transfer-encoded)
  std::size_t message = 0;        // index into Message::messages of the enclosing message
  std::size_t parent = npos;      // index into Message::entities of the container; npos for the top
  unsigned depth = 0;             // containers above this entity
  bool container = false;         // multipart/* or message/rfc822 (children follow it)
};

struct Message {
  std::vector<Entity> entities;          // pre-order, the top entity first
  std::vector<MessageHeaders> messages;  // [0] is the top message
  std::deque<std::string> storage;       // decoded bodies of encoded message/rfc822 parts
};

std::variant<Message, report::Rejection> parse(std::string_view raw, const report::Limits& limits);
// The Message views `raw`: a temporary string would leave it dangling.
std::variant<Message, report::Rejection> parse(std::string&& raw, const report::Limits& limits) = delete;

// Decodes an RFC 2231 parameter (plain, `name*=charset'lang'pct-encoded` or continuations
// `name*0`, `name*1*` ...) from a mimetic parameter list, then any RFC 2047 encoded words.
// Exposed for tests.
std::string decode_parameter(const std::vector<std::pair<std::string, std::string>>& params,
                             std::string_view name);
std::string decode_encoded_words(std::string_view text);

}  // namespace tlsrpt::mime
