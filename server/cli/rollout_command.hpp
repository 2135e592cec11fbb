// tlsrpt rollout: the hosted MTA-STS policy of a domain and the steps of its roll-out.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/parse_command.hpp"

namespace tlsrpt::cli {

void add_rollout_command(CLI::App& app, const GlobalOptions& global, int& exit_code);

}  // namespace tlsrpt::cli
