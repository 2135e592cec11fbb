// `tlsrpt check`: the posture checks of domains, once, without a database; `tlsrpt readiness`.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/parse_command.hpp"

namespace tlsrpt::cli {

void add_check_command(CLI::App& app, const GlobalOptions& global, int& exit_code);
// `tlsrpt readiness`: the testing-to-enforce verdict of a domain, from the database.
void add_readiness_command(CLI::App& app, const GlobalOptions& global, int& exit_code);

}  // namespace tlsrpt::cli
