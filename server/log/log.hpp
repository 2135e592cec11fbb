// The server's log: one line per event on stderr (journald adds the time), in one of two formats:
//   text: `component key=value key=value` for events, `component: message` for prose (as always);
//   json: {"time":"…","level":"info","component":"smtp","event":"message",…}, one object per line.
// A level filters what is written (log.level); both can change while the server runs.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tlsrpt::log {

enum class Level { error, warn, info, debug };
enum class Format { text, json };

std::optional<Level> level_from_string(std::string_view s);
std::string_view to_string(Level l);
std::optional<Format> format_from_string(std::string_view s);

void set_level(Level l);
void set_format(Format f);
Level level();
bool enabled(Level l);

using Fields = std::vector<std::pair<std::string_view, std::string>>;

// `component key=value ...` (values with a space, quote or '=' quoted).
void event(Level l, std::string_view component, const Fields& fields);
// `component: message`.
void line(Level l, std::string_view component, std::string_view message);

// printf-style prose: `component: formatted`.
[[gnu::format(printf, 3, 4)]] void linef(Level l, std::string_view component, const char* format, ...);

}  // namespace tlsrpt::log
