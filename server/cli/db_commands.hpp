// Commands that use the database: migrate, ingest, reprocess.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/parse_command.hpp"

namespace tlsrpt::cli {

void add_db_commands(CLI::App& app, const GlobalOptions& global, int& exit_code);

}  // namespace tlsrpt::cli
