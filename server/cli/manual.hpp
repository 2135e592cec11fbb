// The reference manual, generated from what the program knows, so that it cannot drift: the
// command definitions (CLI11: names, descriptions, options, exit statuses) give tlsrpt(1); the
// settings table (config::reference) and the limits table give tlsrpt.toml(5).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace tlsrpt::cli {

// A command's exit statuses ("0 ...; 1 ...; 2 ..."): its --help footer, and its part of the
// manual's EXIT STATUS.
void exit_statuses(CLI::App& cmd, const std::string& text);

// Every setting and limit, two lines each (key, type, range, default; what it does): the
// footer of check-config --help.
std::string settings_summary();

// roff sources of the two pages.
std::string man_tlsrpt(const CLI::App& app);
std::string man_settings();

// `tlsrpt manual PAGE`: prints tlsrpt.1 or tlsrpt.toml.5 (roff) on stdout; the build makes the
// installed pages with it.
void add_manual_command(CLI::App& app, int& exit_code);

}  // namespace tlsrpt::cli
