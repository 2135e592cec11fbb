// `tlsrpt parse`: run the pipeline over files and print normalised reports.
#pragma once

#include <CLI/CLI.hpp>

#include "config/config.hpp"

namespace tlsrpt::cli {

// Options of the whole program (given before or after the command).
struct GlobalOptions {
  std::string config_path;  // --config / TLSRPT_CONFIG
};
void add_global_options(CLI::App& app, GlobalOptions& global, int& exit_code);

// Registers the subcommand; `exit_code` receives its status (0 all accepted, 1 any rejected).
void add_parse_command(CLI::App& app, const GlobalOptions& global, int& exit_code);

// Options shared by every command that reads reports: --limit, --list-limits, and the
// listings of rejection reasons and quirks.
struct LimitOptions {
  std::vector<std::string> assignments;
};
void add_limit_options(CLI::App& cmd, LimitOptions& options);

// The settings: defaults, the config file, the environment, then --limit flags. Throws
// CLI::ValidationError (a usage error) on a bad file, variable or flag.
config::Settings load_settings(const GlobalOptions& global, const LimitOptions& limits);

}  // namespace tlsrpt::cli
