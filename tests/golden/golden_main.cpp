// Golden test runner: parses every file below CORPUS and compares a summary of the outcome with
// the line for that file in EXPECTED (tab-separated: path relative to CORPUS, then summary).
// Every file must have a line and every line a file, so new corpus files cannot go unchecked.
// Exit status: 0 all match, 1 any mismatch, 77 (skipped) when CORPUS does not exist.
// With --print it prints the summaries instead (to review and write EXPECTED).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "pipeline/pipeline.hpp"

namespace fs = std::filesystem;
using namespace tlsrpt;

namespace {

std::string summarise(const std::string& bytes, const std::string& name) {
  const report::Limits limits;
  std::ostringstream s;
  const auto messages = pipeline::split_mbox(bytes);
  for (std::size_t m = 0; m < messages.size(); ++m) {
    if (m) s << " | ";
    const auto result = pipeline::parse(messages[m], name, limits);
    if (!result.accepted()) {
      s << "rejected=" << report::to_string(result.rejections.front().reason);
      continue;
    }
    std::int64_t ok = 0, failed = 0;
    std::set<std::string> domains, quirks, types;
    for (const auto& p : result.reports) {
      ok += p.report.total_successful();
      failed += p.report.total_failure();
      for (const auto& pol : p.report.policies) {
        domains.insert(pol.policy_domain);
        types.insert(pol.policy_type);
      }
      p.report.quirks.for_each([&](report::Quirk q) { quirks.insert(std::string(report::to_string(q))); });
    }
    auto join = [](const std::set<std::string>& v) {
      std::string o;
      for (const auto& x : v) o += (o.empty() ? "" : ",") + x;
      return o.empty() ? std::string("-") : o;
    };
    s << "reports=" << result.reports.size() << " sessions=" << ok << "/" << failed << " domains=" << join(domains)
      << " types=" << join(types) << " quirks=" << join(quirks);
  }
  return s.str();
}

}  // namespace

int main(int argc, char** argv) {
  const bool print = argc == 3 && std::string(argv[1]) == "--print";
  if (argc != 3) {
    std::fprintf(stderr, "usage: tlsrpt_golden CORPUS EXPECTED | --print CORPUS\n");
    return 2;
  }
  const fs::path corpus = print ? argv[2] : argv[1];
  if (!fs::is_directory(corpus)) {
    std::printf("skipped: %s is absent\n", corpus.c_str());
    return 77;
  }
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(corpus))
    if (e.is_regular_file() && e.path().extension() != ".md" && e.path().extension() != ".py") files.push_back(e.path());
  std::sort(files.begin(), files.end());

  std::map<std::string, std::string> expected;
  if (!print) {
    std::ifstream in(argv[2]);
    if (!in) {
      std::fprintf(stderr, "cannot read %s\n", argv[2]);
      return 2;
    }
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      const auto tab = line.find('\t');
      expected[line.substr(0, tab)] = tab == std::string::npos ? "" : line.substr(tab + 1);
    }
  }
  int passed = 0, failed = 0;
  for (const auto& f : files) {
    const std::string rel = fs::relative(f, corpus).string();
    std::ifstream in(f, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string got = summarise(bytes, f.filename().string());
    if (print) {
      std::printf("%s\t%s\n", rel.c_str(), got.c_str());
      continue;
    }
    const auto it = expected.find(rel);
    if (it == expected.end()) {
      std::printf("FAIL %s: no expected outcome (got: %s)\n", rel.c_str(), got.c_str());
      ++failed;
    } else if (it->second != got) {
      std::printf("FAIL %s\n  expected: %s\n  got:      %s\n", rel.c_str(), it->second.c_str(), got.c_str());
      ++failed;
      expected.erase(it);
    } else {
      ++passed;
      expected.erase(it);
    }
  }
  for (const auto& [rel, want] : expected) {
    if (print) break;
    std::printf("FAIL %s: expected file is missing\n", rel.c_str());
    ++failed;
  }
  if (!print) std::printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
