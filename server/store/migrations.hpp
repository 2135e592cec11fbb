// The schema migrations compiled into the binary (from migrations/*.sql, in name order).
#pragma once

#include <span>
#include <string_view>

namespace tlsrpt::store {

struct Migration {
  std::string_view name;  // file name, e.g. 0001_initial.sql
  std::string_view sql;
};

std::span<const Migration> migrations();

}  // namespace tlsrpt::store
