// DKIM settings as the commands read them, and `tlsrpt dkim`: verify report messages as intake does.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/parse_command.hpp"
#include "config/config.hpp"
#include "dkim/gate.hpp"

namespace tlsrpt::cli {

dkim::Mode dkim_mode(const config::Settings& s);
dkim::Settings dkim_settings(const config::Settings& s);
// dkim.alert_on: whether only authenticated mail feeds the report data series that alerts use.
bool dkim_alert_on_authenticated(const config::Settings& s);

void add_dkim_command(CLI::App& app, const GlobalOptions& global, int& exit_code);

}  // namespace tlsrpt::cli
