// JSON text: the one string escaper and the one writer of the project (the normalised report
// output, the API's answers built in C++, the log's JSON lines, posture and readiness answers).
// Pure: no I/O, no allocation beyond the output string.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tlsrpt::json {

// What the text to escape is:
// - utf8: valid UTF-8 already (checked by the caller, or produced by this program); bytes from
//   0x80 pass as they are;
// - bytes: untrusted bytes (SMTP commands, file names, header values) that PostgreSQL's jsonb
//   must accept whatever they are: bytes 0x80-0xFF become \u0080-\u00FF (read as Latin-1),
//   and U+0000 (which jsonb refuses) becomes U+FFFD.
// Both escape '"', '\\' and the control characters (RFC 8259), \n \r \t by name.
enum class Input { utf8, bytes };

void append_string(std::string& out, std::string_view text, Input input = Input::utf8);
std::string string(std::string_view text, Input input = Input::utf8);
inline std::string string_of_bytes(std::string_view bytes) { return string(bytes, Input::bytes); }

  // The one JSON writer of the project: keys and values in order, optional indentation. Strings
// are escaped by append_string with the writer's Input.
class Writer {
 public:
  Writer(std::string& out, bool pretty = false, Input input = Input::utf8) : out_(out), pretty_(pretty), input_(input) {}

  void begin_object() { open('{'); }
  void end_object() { close('}'); }
  void begin_array() { open('['); }
  void end_array() { close(']'); }

  template <class T>
  void field(std::string_view k, const T& v) {
    key(k);
    value(v);
  }
  void optional_field(std::string_view k, std::string_view v) {
    key(k);
    optional(v);
  }
  void key(std::string_view k) {
    separator();
    append_string(out_, k, input_);
    out_ += pretty_ ? ": " : ":";
    after_key_ = true;
  }
  void value(std::string_view s) {
    separator();
    append_string(out_, s, input_);
  }
  void value(const std::string& s) { value(std::string_view(s)); }
  void value(const char* s) { value(std::string_view(s)); }
  void value(std::optional<std::string_view> s) {
    if (s) value(*s);
    else null();
  }
  void value(const std::optional<std::string>& s) {
    if (s) value(std::string_view(*s));
    else null();
  }
  void value(std::int64_t n) {
    separator();
    out_ += std::to_string(n);
  }
  void boolean(bool b) {
    separator();
    out_ += b ? "true" : "false";
  }
  void null() {
    separator();
    out_ += "null";
  }
  void optional(std::string_view s) {
    if (s.empty()) null();
    else value(s);
  }
  // JSON text made elsewhere (an answer PostgreSQL built), inserted as one value.
  void raw(std::string_view json) {
    separator();
    out_ += json;
  }
  void strings(const std::vector<std::string>& list) {
    begin_array();
    for (const auto& s : list) value(std::string_view(s));
    end_array();
  }

 private:
  void separator() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!first_.empty()) {
      if (!first_.back()) out_ += ',';
      first_.back() = false;
      newline();
    }
  }
  void newline() {
    if (!pretty_) return;
    out_ += '\n';
    out_.append(2 * first_.size(), ' ');
  }
  void open(char c) {
    separator();
    out_ += c;
    first_.push_back(true);
  }
  void close(char c) {
    const bool empty = first_.back();
    first_.pop_back();
    if (!empty) newline();
    out_ += c;
  }

  std::string& out_;
  bool pretty_;
  Input input_;
  bool after_key_ = false;
  std::vector<bool> first_;
};

}  // namespace tlsrpt::json
