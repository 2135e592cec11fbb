// Commands that use the database: migrate, ingest, reprocess.
#pragma once

#include <CLI/CLI.hpp>

namespace tlsrpt::cli {

void add_db_commands(CLI::App& app, int& exit_code);

}  // namespace tlsrpt::cli
