// DKIM settings as the commands read them, and `tlsrpt dkim`: verify report messages as intake does.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/parse_command.hpp"
#include "config/config.hpp"
#include "dkim/verify.hpp"

namespace tlsrpt::cli {

enum class DkimMode { off, record, require };
DkimMode dkim_mode(const config::Settings& s);  // throws CLI::ValidationError naming dkim.mode
dkim::Settings dkim_settings(const config::Settings& s);

void add_dkim_command(CLI::App& app, const GlobalOptions& global, int& exit_code);

}  // namespace tlsrpt::cli
