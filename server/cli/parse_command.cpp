#include "cli/parse_command.hpp"
#include "cli/serve_plan.hpp"
#include "cli/manual.hpp"

#include <cstdio>
#include <map>

#include "cli/inputs.hpp"
#include "pipeline/output.hpp"
#include "pipeline/pipeline.hpp"

namespace tlsrpt::cli {
namespace {

struct ParseOptions {
  std::vector<std::string> paths;
  bool pretty = false;
  bool summary = false;
  LimitOptions limits;
};

[[noreturn]] void list_and_exit(std::string_view what) {
  if (what == "limits") {
    std::printf("%-16s %-6s %-12s %s\n", "NAME", "UNIT", "DEFAULT", "MEANING");
    for (const auto& l : report::all_limits())
      std::printf("%-16.*s %-6s %-12llu %.*s\n", static_cast<int>(l.name.size()), l.name.data(),
                  l.unit == report::LimitUnit::bytes ? "bytes" : "count",
                  static_cast<unsigned long long>(l.default_value), static_cast<int>(l.description.size()),
                  l.description.data());
  } else if (what == "reasons") {
    for (const auto& r : report::all_reasons())
      std::printf("%-26.*s %.*s\n", static_cast<int>(r.name.size()), r.name.data(),
                  static_cast<int>(r.description.size()), r.description.data());
  } else {
    for (const auto& q : report::all_quirks())
      std::printf("%-30.*s %.*s\n", static_cast<int>(q.name.size()), q.name.data(),
                  static_cast<int>(q.description.size()), q.description.data());
  }
  std::exit(0);
}

int run_parse(const ParseOptions& opt, const report::Limits& limits) {

  std::string out;
  std::uint64_t inputs = 0, reports = 0, rejected = 0, errors = 0;
  std::int64_t successful = 0, failed = 0;
  std::map<std::string_view, std::uint64_t> by_reason;
  auto flush = [&out] {
    std::fwrite(out.data(), 1, out.size(), stdout);
    out.clear();
  };
  auto reject = [&](const std::string& name, const report::Rejection& r) {
    ++rejected;
    ++by_reason[report::to_string(r.reason)];
    flush();
    std::fflush(stdout);
    print_rejection(name, r);
  };

  InputVisitor visitor;
  visitor.input = [&](const std::string& name, std::string_view bytes) {
    ++inputs;
    const pipeline::Result result = pipeline::parse(bytes, name, limits);
    if (!result.accepted()) {
      reject(name, result.rejections.front());
      return;
    }
    for (const auto& r : result.rejections)
      std::fprintf(stderr, "%s: warning: a report part was rejected: %.*s: %s\n", name.c_str(),
                   static_cast<int>(report::to_string(r.reason).size()), report::to_string(r.reason).data(),
                   r.detail.c_str());
    for (const auto& p : result.reports) {
      ++reports;
      successful += p.report.total_successful();
      failed += p.report.total_failure();
      pipeline::append_json(out, p, name, opt.pretty);
      out += '\n';
    }
    if (out.size() > 65536) flush();
  };
  visitor.too_large = [&](const std::string& name, const report::Rejection& r) {
    ++inputs;
    reject(name, r);
  };
  visitor.error = [&](const std::string& name, const std::string& error) {
    ++errors;
    std::fprintf(stderr, "%s: error: %s\n", name.c_str(), error.c_str());
  };
  visit_inputs(opt.paths.empty() ? std::vector<std::string>{"-"} : opt.paths, limits, visitor);
  flush();
  std::fflush(stdout);
  if (opt.summary) {
    std::string reasons;
    for (const auto& [reason, n] : by_reason) reasons += " " + std::string(reason) + "=" + std::to_string(n);
    std::fprintf(stderr,
                 "summary: inputs=%llu reports=%llu rejected=%llu errors=%llu successful-sessions=%lld "
                 "failed-sessions=%lld%s\n",
                 static_cast<unsigned long long>(inputs), static_cast<unsigned long long>(reports),
                 static_cast<unsigned long long>(rejected), static_cast<unsigned long long>(errors),
                 static_cast<long long>(successful), static_cast<long long>(failed), reasons.c_str());
  }
  return rejected || errors ? 1 : 0;
}

}  // namespace

void add_limit_options(CLI::App& cmd, LimitOptions& options) {
  cmd.add_option("--limit", options.assignments,
                 "Override a limit on untrusted input, NAME=VALUE (K/M/G suffixes allowed); "
                 "repeatable. Also TLSRPT_LIMIT_<NAME> in the environment.")
      ->type_name("NAME=VALUE")
      ->type_size(1)
      ->allow_extra_args(false);
  cmd.add_flag_callback("--list-limits", [] { list_and_exit("limits"); }, "List the limits with defaults and exit");
  cmd.add_flag_callback("--list-reasons", [] { list_and_exit("reasons"); }, "List the rejection reasons and exit");
  cmd.add_flag_callback("--list-quirks", [] { list_and_exit("quirks"); }, "List the tolerated deviations and exit");
}

config::Settings load_settings(const GlobalOptions& global, const LimitOptions& limits) {
  config::Settings s;
  try {
    s = config::load(global.config_path);
  } catch (const config::Error& e) {
    throw CLI::ValidationError(e.what());
  }
  for (const auto& a : limits.assignments)
    if (auto err = report::set_limit(s.limits, a)) throw CLI::ValidationError("--limit", *err);
  return s;
}

void add_global_options(CLI::App& app, GlobalOptions& global, int& exit_code) {
  app.add_option("--config", global.config_path, "Settings file (TOML); see tlsrpt check-config")
      ->envname("TLSRPT_CONFIG")
      ->check(CLI::ExistingFile);
  app.fallthrough();
  CLI::App* cmd = app.add_subcommand(
      "check-config",
      "Read the settings (file, environment), check every value against its type and range, plan serve from them "
      "as serve and a SIGHUP reload do (listen addresses, certificates and keys, tokens, files, users, every check "
      "between settings), and print the effective values, secrets redacted, then what serve would run. The settings "
      "are described in tlsrpt.toml(5) and below.");
  exit_statuses(*cmd, "0 serve would start with these settings; 2 a setting is unknown or its value is wrong, or serve "
                      "would refuse it (the key and what is wrong on stderr, as serve says it)");
  cmd->footer(cmd->get_footer() + "\n\n" + settings_summary());
  auto limits = std::make_shared<LimitOptions>();
  add_limit_options(*cmd, *limits);
  cmd->callback([&global, limits, &exit_code] {
    const config::Settings s = load_settings(global, *limits);
    const Plan p = plan(s);  // throws CLI::ValidationError: exit 2 with serve's own message
    std::fputs(config::describe(s).c_str(), stdout);
    std::fputs(describe(p).c_str(), stdout);
    exit_code = 0;
  });
}

void add_parse_command(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  auto opt = std::make_shared<ParseOptions>();
  CLI::App* cmd = app.add_subcommand(
      "parse",
      "Read TLS reports (RFC 5322 messages, mbox files, bare .json or .json.gz, directories, or - for stdin) "
      "and print each report as one normalised JSON object per line. Rejected inputs are reported on stderr "
      "as 'PATH: rejected: REASON: DETAIL'.");
  exit_statuses(*cmd, "0 every input gave a report; 1 some input was rejected or unreadable; 2 usage error");
  cmd->add_option("paths", opt->paths, "Files, directories or - (stdin); stdin when none is given")
      ->check(CLI::ExistingPath | CLI::IsMember({"-"}));
  cmd->add_flag("--pretty", opt->pretty, "Indent the JSON output");
  cmd->add_flag("--summary", opt->summary, "Print a one-line summary of counts on stderr at the end");
  add_limit_options(*cmd, opt->limits);
  cmd->callback([opt, &global, &exit_code] { exit_code = run_parse(*opt, load_settings(global, opt->limits).limits); });
}

}  // namespace tlsrpt::cli
