// tlsrpt: receive, store and analyse SMTP TLS Reporting (RFC 8460) reports.
// main only wires the subcommands together.
#include <CLI/CLI.hpp>

#include "cli/check_command.hpp"
#include "cli/dkim_command.hpp"
#include "cli/db_commands.hpp"
#include "cli/manual.hpp"
#include "cli/parse_command.hpp"
#include "cli/rollout_command.hpp"
#include "cli/serve_command.hpp"

int main(int argc, char** argv) {
  CLI::App app{"tlsrpt: receive, store and analyse SMTP TLS Reporting (RFC 8460) reports."};
  app.set_version_flag("--version", TLSRPT_VERSION);
  app.require_subcommand(1);
  app.footer("Run 'tlsrpt COMMAND --help' for a command's options.");
  int exit_code = 0;
  tlsrpt::cli::GlobalOptions global;
  tlsrpt::cli::add_global_options(app, global, exit_code);
  tlsrpt::cli::add_parse_command(app, global, exit_code);
  tlsrpt::cli::add_db_commands(app, global, exit_code);
  tlsrpt::cli::add_serve_command(app, global, exit_code);
  tlsrpt::cli::add_check_command(app, global, exit_code);
  tlsrpt::cli::add_readiness_command(app, global, exit_code);
  tlsrpt::cli::add_rollout_command(app, global, exit_code);
  tlsrpt::cli::add_dkim_command(app, global, exit_code);
  tlsrpt::cli::add_manual_command(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  return exit_code;
}
