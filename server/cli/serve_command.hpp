// `tlsrpt serve`: the long-running process (for now: the SMTP listener).
#pragma once

#include <CLI/CLI.hpp>

#include "cli/parse_command.hpp"

namespace tlsrpt::cli {

void add_serve_command(CLI::App& app, const GlobalOptions& global, int& exit_code);

}  // namespace tlsrpt::cli
