#include "log/log.hpp"

#include "json/text.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <ctime>

namespace tlsrpt::log {
namespace {

std::atomic<Level> current_level{Level::info};
std::atomic<Format> current_format{Format::text};

constexpr std::pair<Level, std::string_view> level_names[] = {
    {Level::error, "error"}, {Level::warn, "warn"}, {Level::info, "info"}, {Level::debug, "debug"}};


std::string json_head(Level l, std::string_view component) {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char when[96];
  std::snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  std::string out = "{\"time\":\"";
  out += when;
  out += "\",\"level\":\"";
  out += to_string(l);
  out += "\",\"component\":";
  json::append_string(out, component);
  return out;
}

void emit(std::string& text) {
  text += '\n';
  std::fwrite(text.data(), 1, text.size(), stderr);  // one write per line: lines of threads do not mix
}

}  // namespace

std::optional<Level> level_from_string(std::string_view s) {
  for (const auto& [l, name] : level_names)
    if (name == s) return l;
  return std::nullopt;
}

std::string_view to_string(Level l) {
  for (const auto& [level, name] : level_names)
    if (level == l) return name;
  return "info";
}

std::optional<Format> format_from_string(std::string_view s) {
  if (s == "text") return Format::text;
  if (s == "json") return Format::json;
  return std::nullopt;
}

void set_level(Level l) { current_level = l; }
void set_format(Format f) { current_format = f; }
Level level() { return current_level; }
bool enabled(Level l) { return static_cast<int>(l) <= static_cast<int>(current_level.load()); }

void event(Level l, std::string_view component, const Fields& fields) {
  if (!enabled(l)) return;
  std::string out;
  if (current_format == Format::json) {
    out = json_head(l, component);
    for (const auto& [key, value] : fields) {
      out += ',';
      json::append_string(out, key);
      out += ':';
      json::append_string(out, value);
    }
    out += '}';
  } else {
    out = component;
    for (const auto& [key, value] : fields) {
      out += ' ';
      out += key;
      out += '=';
      if (value.find_first_of(" \"=") == std::string::npos) {
        out += value;
      } else {
        out += '"';
        for (char c : value) {
          if (c == '"' || c == '\\') out += '\\';
          out += c;
        }
        out += '"';
      }
    }
  }
  emit(out);
}

void line(Level l, std::string_view component, std::string_view message) {
  if (!enabled(l)) return;
  std::string out;
  if (current_format == Format::json) {
    out = json_head(l, component) + ",\"message\":";
    json::append_string(out, message);
    out += '}';
  } else {
    out = std::string(component) + ": " + std::string(message);
  }
  emit(out);
}

void linef(Level l, std::string_view component, const char* format, ...) {
  if (!enabled(l)) return;
  char buf[2048];
  va_list args;
  va_start(args, format);
  const int n = std::vsnprintf(buf, sizeof buf, format, args);
  va_end(args);
  if (n < 0) return;
  std::string message(buf, std::min<std::size_t>(static_cast<std::size_t>(n), sizeof buf - 1));
  while (!message.empty() && message.back() == '\n') message.pop_back();
  line(l, component, message);
}

}  // namespace tlsrpt::log
