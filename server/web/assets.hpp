// The web pages' templates and stylesheet compiled into the binary (from server/web/assets/,
// in name order).
#pragma once

#include <span>
#include <string_view>

namespace tlsrpt::web {

struct Asset {
  std::string_view name;  // file name, e.g. domains.mustache
  std::string_view text;
};

std::span<const Asset> assets();

}  // namespace tlsrpt::web
