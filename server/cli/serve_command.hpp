// `tlsrpt serve`: the long-running process. It runs on the serve plan (cli/serve_plan: every
// setting checked and typed), starts the listeners (SMTP, HTTP), the IMAP poller, the scheduled
// posture checks and the runtime parts (cli/runtime: database watch, maintenance, reloader), and
// stops them on SIGTERM or SIGINT.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/parse_command.hpp"

namespace tlsrpt::cli {

void add_serve_command(CLI::App& app, const GlobalOptions& global, int& exit_code);

}  // namespace tlsrpt::cli
