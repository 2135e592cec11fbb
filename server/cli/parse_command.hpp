// `tlsrpt parse`: run the pipeline over files and print normalised reports.
#pragma once

#include <CLI/CLI.hpp>

namespace tlsrpt::cli {

// Registers the subcommand; `exit_code` receives its status (0 all accepted, 1 any rejected).
void add_parse_command(CLI::App& app, int& exit_code);

// Options shared by every command that reads reports: --limit, --list-limits, and the
// listings of rejection reasons and quirks.
struct LimitOptions {
  std::vector<std::string> assignments;
};
void add_limit_options(CLI::App& cmd, LimitOptions& options);

}  // namespace tlsrpt::cli
