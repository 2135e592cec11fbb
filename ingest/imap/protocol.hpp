// The IMAP4rev1 (RFC 3501) client side as pure functions: assembling responses from the byte
// stream (lines with literals spliced in), and reading what the poller needs out of them.
//
// Purpose: keep everything that parses the server's bytes testable and fuzzable without a
// network. Trusts: nothing from the server; every size is bounded by the caller's limits.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tlsrpt::imap {

// One response: its first line (without CRLF) and the literals it carried, in order. For
// "* 3 FETCH (UID 7 BODY[] {5}\r\nhello)\r\n", text is "* 3 FETCH (UID 7 BODY[] {5})" and
// literals is {"hello"}: each literal's "{n}" stays in the text, its bytes go to literals.
struct Response {
  std::string text;
  std::vector<std::string> literals;
};

// Splits responses off the front of `buffer` as bytes arrive.
class Reader {
 public:
  struct Limits {
    std::size_t line = 64 * 1024;                 // one line of text, literals apart
    std::size_t literal = 32 * 1024 * 1024;        // one literal (a message)
  };
  explicit Reader(Limits limits) : limits_(limits) {}
  // Appends bytes; returns false (and error() says why) once the stream breaks a limit or the
  // grammar; a broken reader stays broken.
  bool feed(std::string_view bytes);
  // The next complete response, if any.
  std::optional<Response> next();
  const std::string& error() const { return error_; }

 private:
  bool advance();
  Limits limits_;
  std::string buffer_;
  std::size_t pos_ = 0;
  Response current_;
  std::size_t literal_left_ = 0;  // bytes still owed to the current literal
  bool in_literal_ = false;
  std::vector<Response> ready_;
  std::string error_;
};

// The tag of a tagged response ("a1 OK ..." -> "a1"); "*" or "+" for the others.
std::string_view tag_of(std::string_view text);
// For a tagged or untagged status response: "OK", "NO", "BAD", "PREAUTH", "BYE" (upper case), else "".
std::string status_of(std::string_view text);
// Capability names of a "* CAPABILITY ..." response or of an "[CAPABILITY ...]" response code, upper case.
std::vector<std::string> capabilities(std::string_view text);
// The number in a response code such as "[UIDVALIDITY 3857529045]".
std::optional<std::uint64_t> response_code_number(std::string_view text, std::string_view code);
// UIDs of a "* SEARCH ..." response (at most `max`).
std::vector<std::uint32_t> search_uids(std::string_view text, std::size_t max);
// The hierarchy delimiter of a "* LIST (...) "/" ..." response; 0 for NIL.
std::optional<char> list_delimiter(std::string_view text);
// The UID of a "* n FETCH (... UID u ...)" response.
std::optional<std::uint32_t> fetch_uid(std::string_view text);
// Whether the text is "* n EXISTS".
bool is_exists(std::string_view text);

// A string argument: a quoted string when it is printable ASCII, else a literal
// ("{n}\r\n" + bytes; the caller must wait for the continuation before sending the bytes).
bool needs_literal(std::string_view s);
std::string quoted(std::string_view s);
// Base64 for AUTHENTICATE PLAIN ("\0user\0password").
std::string base64(std::string_view bytes);

}  // namespace tlsrpt::imap
