#include "imap/protocol.hpp"

#include <cctype>

namespace tlsrpt::imap {
namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// Splits on spaces.
std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    const std::size_t b = i;
    while (i < s.size() && s[i] != ' ') ++i;
    if (i > b) out.push_back(s.substr(b, i - b));
  }
  return out;
}

// "{123}" or "{123+}" at the end of a line: the literal's size.
std::optional<std::size_t> literal_at_end(std::string_view line) {
  if (line.empty() || line.back() != '}') return std::nullopt;
  const auto open = line.rfind('{');
  if (open == std::string_view::npos) return std::nullopt;
  std::string_view n = line.substr(open + 1, line.size() - open - 2);
  if (!n.empty() && n.back() == '+') n.remove_suffix(1);
  if (n.empty() || n.size() > 12) return std::nullopt;
  std::size_t v = 0;
  for (char c : n) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::size_t>(c - '0');
  }
  return v;
}

}  // namespace

bool Reader::feed(std::string_view bytes) {
  if (!error_.empty()) return false;
  buffer_.append(bytes);
  while (advance()) {
  }
  if (pos_ > 0 && pos_ >= buffer_.size() / 2) {  // keep the buffer from growing without end
    buffer_.erase(0, pos_);
    pos_ = 0;
  }
  return error_.empty();
}

// One step: a literal's bytes or a line; false when more bytes are needed or on error.
bool Reader::advance() {
  if (!error_.empty()) return false;
  if (in_literal_) {
    const std::size_t n = std::min(literal_left_, buffer_.size() - pos_);
    current_.literals.back().append(buffer_, pos_, n);
    pos_ += n;
    literal_left_ -= n;
    if (literal_left_ > 0) return false;
    in_literal_ = false;
    return true;
  }
  const auto eol = buffer_.find("\r\n", pos_);
  if (eol == std::string::npos) {
    if (buffer_.size() - pos_ > limits_.line) error_ = "a response line is longer than " + std::to_string(limits_.line) + " bytes";
    return false;
  }
  if (eol - pos_ > limits_.line) {
    error_ = "a response line is longer than " + std::to_string(limits_.line) + " bytes";
    return false;
  }
  const std::string_view line(buffer_.data() + pos_, eol - pos_);
  pos_ = eol + 2;
  if (current_.text.size() + line.size() > limits_.line) {
    error_ = "a response is longer than " + std::to_string(limits_.line) + " bytes of text";
    return false;
  }
  current_.text.append(line);
  if (const auto size = literal_at_end(line)) {
    if (*size > limits_.literal) {
      error_ = "a literal of " + std::to_string(*size) + " bytes is over the limit of " + std::to_string(limits_.literal);
      return false;
    }
    current_.literals.emplace_back();
    current_.literals.back().reserve(*size);
    literal_left_ = *size;
    in_literal_ = *size > 0;
    return true;
  }
  ready_.push_back(std::move(current_));
  current_ = Response{};
  return true;
}

std::optional<Response> Reader::next() {
  if (ready_.empty()) return std::nullopt;
  Response r = std::move(ready_.front());
  ready_.erase(ready_.begin());
  return r;
}

std::string_view tag_of(std::string_view text) { return text.substr(0, text.find(' ')); }

std::string status_of(std::string_view text) {
  const auto w = words(text);
  if (w.size() < 2) return "";
  std::string s = upper(w[1]);
  if (s == "OK" || s == "NO" || s == "BAD" || s == "PREAUTH" || s == "BYE") return s;
  return "";
}

std::vector<std::string> capabilities(std::string_view text) {
  std::string_view list;
  const std::string up = upper(text);
  if (const auto at = up.find("[CAPABILITY "); at != std::string::npos) {
    const auto end = up.find(']', at);
    if (end == std::string::npos) return {};
    list = text.substr(at + 12, end - at - 12);
  } else if (up.rfind("* CAPABILITY ", 0) == 0) {
    list = text.substr(13);
  } else {
    return {};
  }
  std::vector<std::string> out;
  for (auto w : words(list)) out.push_back(upper(w));
  return out;
}

std::optional<std::uint64_t> response_code_number(std::string_view text, std::string_view code) {
  const std::string up = upper(text);
  const std::string key = "[" + upper(code) + " ";
  const auto at = up.find(key);
  if (at == std::string::npos) return std::nullopt;
  std::uint64_t v = 0;
  std::size_t i = at + key.size(), digits = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9' && digits < 19; ++i, ++digits)
    v = v * 10 + static_cast<std::uint64_t>(text[i] - '0');
  if (digits == 0 || i >= text.size() || text[i] != ']') return std::nullopt;
  return v;
}

std::vector<std::uint32_t> search_uids(std::string_view text, std::size_t max) {
  const auto w = words(text);
  std::vector<std::uint32_t> out;
  if (w.size() < 2 || w[0] != "*" || upper(w[1]) != "SEARCH") return out;
  for (std::size_t i = 2; i < w.size() && out.size() < max; ++i) {
    std::uint64_t v = 0;
    bool ok = !w[i].empty() && w[i].size() <= 10;
    for (char c : w[i]) {
      if (c < '0' || c > '9') ok = false;
      else v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (ok && v > 0 && v <= 0xffffffffu) out.push_back(static_cast<std::uint32_t>(v));
  }
  return out;
}

std::optional<char> list_delimiter(std::string_view text) {
  const std::string up = upper(text);
  if (up.rfind("* LIST ", 0) != 0) return std::nullopt;
  const auto close = text.find(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view rest = text.substr(close + 1);
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  if (rest.size() >= 3 && upper(rest.substr(0, 3)) == "NIL") return '\0';
  if (rest.size() >= 3 && rest[0] == '"' && rest[1] != '\\' && rest[2] == '"') return rest[1];
  if (rest.size() >= 4 && rest[0] == '"' && rest[1] == '\\' && rest[3] == '"') return rest[2];
  return std::nullopt;
}

std::optional<std::uint32_t> fetch_uid(std::string_view text) {
  const std::string up = upper(text);
  if (up.rfind("* ", 0) != 0 || up.find(" FETCH (") == std::string::npos) return std::nullopt;
  const auto at = up.find("UID ", up.find(" FETCH ("));
  if (at == std::string::npos) return std::nullopt;
  std::uint64_t v = 0;
  std::size_t i = at + 4, digits = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9' && digits < 11; ++i, ++digits)
    v = v * 10 + static_cast<std::uint64_t>(text[i] - '0');
  if (digits == 0 || v == 0 || v > 0xffffffffu) return std::nullopt;
  return static_cast<std::uint32_t>(v);
}

bool is_exists(std::string_view text) {
  const auto w = words(text);
  return w.size() == 3 && w[0] == "*" && upper(w[2]) == "EXISTS";
}

bool needs_literal(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) return true;
  return s.size() > 1000;
}

std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string base64(std::string_view bytes) {
  static constexpr char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += table[v >> 18];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += table[v & 63];
  }
  if (i + 1 == bytes.size()) {
    const unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    out += table[v >> 18];
    out += table[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    const unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8);
    out += table[v >> 18];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

}  // namespace tlsrpt::imap
