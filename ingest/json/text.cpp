#include "json/text.hpp"

namespace tlsrpt::json {

void append_string(std::string& out, std::string_view text, Input input) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  std::size_t run = 0;  // bytes from `run` to the current one are copied as they are
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\' && (c < 0x80 || input == Input::utf8)) continue;
    out.append(text.substr(run, i - run));
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case 0:
        out += input == Input::bytes ? "\\ufffd" : "\\u0000";
        break;
      default:
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 15];
    }
  }
  out.append(text.substr(run));
  out += '"';
}

std::string string(std::string_view text, Input input) {
  std::string out;
  out.reserve(text.size() + 2);
  append_string(out, text, input);
  return out;
}

}  // namespace tlsrpt::json
