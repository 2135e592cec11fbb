// Values of settings as the commands read them: numbers, sizes, booleans and lists, each checked
// with an error naming the setting (CLI::ValidationError, a usage error).
#pragma once

#include <CLI/CLI.hpp>
#include <cctype>
#include <limits>
#include <string>
#include <vector>

namespace tlsrpt::cli {

// Items separated by commas or spaces; empty items are skipped.
inline std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::string item;
  for (char c : text + ",") {
    if (c == ',' || c == ' ') {
      if (!item.empty()) out.push_back(item);
      item.clear();
    } else {
      item += c;
    }
  }
  return out;
}

inline std::size_t number(const std::string& key, const std::string& value, bool zero_allowed = false) {
  try {
    std::size_t used = 0;
    const unsigned long long n = std::stoull(value, &used);
    if (used == value.size() && (n > 0 || zero_allowed) && value[0] != '-') return static_cast<std::size_t>(n);
  } catch (...) {
  }
  throw CLI::ValidationError(key, "'" + value + "' is not a " + (zero_allowed ? "number" : "positive number"));
}

// A size in bytes: a number with an optional K, M or G suffix (powers of 1024); 0 allowed.
inline std::size_t size_setting(const std::string& key, const std::string& value) {
  std::string digits = value;
  std::size_t unit = 1;
  if (!digits.empty()) {
    const char suffix = static_cast<char>(std::toupper(static_cast<unsigned char>(digits.back())));
    if (suffix == 'K' || suffix == 'M' || suffix == 'G') {
      unit = suffix == 'K' ? 1024 : suffix == 'M' ? 1024 * 1024 : std::size_t(1024) * 1024 * 1024;
      digits.pop_back();
    }
  }
  const std::size_t n = number(key, digits, true);
  if (n > std::numeric_limits<std::size_t>::max() / unit)
    throw CLI::ValidationError(key, "'" + value + "' is too large");
  return n * unit;
}

// A list of secrets (tokens): comma-separated, spaces around items ignored; an empty item (",,",
// a trailing comma, "" in a TOML list) is an error, not a silent omission.
inline std::vector<std::string> secret_list(const std::string& key, const std::string& text) {
  std::vector<std::string> out;
  if (text.find_first_not_of(" ") == std::string::npos) return out;
  std::size_t start = 0;
  while (true) {
    const auto comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (item.empty()) throw CLI::ValidationError(key, "the list has an empty entry (two commas, or one at an end)");
    out.push_back(std::move(item));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

inline bool boolean(const std::string& key, const std::string& value) {
  if (value == "true" || value == "1" || value == "yes") return true;
  if (value == "false" || value == "0" || value == "no") return false;
  throw CLI::ValidationError(key, "'" + value + "' is neither true nor false");
}

}  // namespace tlsrpt::cli
