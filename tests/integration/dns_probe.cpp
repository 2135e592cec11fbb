// Test driver for server/dns: resolves each "NAME TYPE" argument through tlsrpt's resolver and
// prints one line per query: NAME TYPE OUTCOME secure|insecure [canonical=NAME] records...
// Usage: dns_probe SERVER TRUST_ANCHOR_FILE TIMEOUT_MS NAME TYPE [NAME TYPE]...
#include <boost/asio.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "dns/resolver.hpp"

using namespace tlsrpt;

namespace {

std::string hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string record(dns::Type type, const std::string& rdata) {
  switch (type) {
    case dns::Type::txt: return "\"" + dns::txt_text(rdata).value_or("(malformed)") + "\"";
    case dns::Type::mx: {
      const auto m = dns::mx(rdata);
      return m ? std::to_string(m->preference) + ":" + m->host : "(malformed)";
    }
    case dns::Type::a:
    case dns::Type::aaaa: return dns::address(rdata).value_or("(malformed)");
    case dns::Type::tlsa: {
      const auto t = dns::tlsa(rdata);
      return t ? std::to_string(t->usage) + "/" + std::to_string(t->selector) + "/" + std::to_string(t->matching) + "/" +
                     hex(t->data)
               : "(malformed)";
    }
    default: return hex(rdata);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4 || (argc - 4) % 2) {
    std::fprintf(stderr, "usage: dns_probe SERVER TRUST_ANCHOR_FILE TIMEOUT_MS NAME TYPE...\n");
    return 2;
  }
  boost::asio::io_context io;
  dns::Settings s;
  s.server = argv[1];
  s.trust_anchor_file = argv[2];
  s.timeout = std::chrono::milliseconds(std::atoi(argv[3]));
  dns::Resolver resolver(io, s);
  const std::pair<const char*, dns::Type> types[] = {{"A", dns::Type::a},   {"AAAA", dns::Type::aaaa}, {"MX", dns::Type::mx},
                                                     {"TXT", dns::Type::txt}, {"TLSA", dns::Type::tlsa}, {"CNAME", dns::Type::cname}};
  // All queries at once (they run concurrently), printed in the order given.
  std::vector<std::string> lines((argc - 4) / 2);
  for (int i = 4; i < argc; i += 2) {
    dns::Type type = dns::Type::a;
    for (const auto& [n, t] : types)
      if (std::string(argv[i + 1]) == n) type = t;
    const std::string name = argv[i], tname = argv[i + 1];
    const auto started = std::chrono::steady_clock::now();
    resolver.resolve(name, type, [&lines, i, name, tname, type, started](dns::Answer a) {
      std::string line = name + " " + tname + " " + std::string(dns::to_string(a.outcome)) + " " +
                         (a.secure ? "secure" : "insecure");
      if (!a.canonical.empty() && a.canonical != name && a.canonical != name + ".") line += " canonical=" + a.canonical;
      for (const auto& r : a.rdata) line += " " + record(type, r);
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
      line += " ms=" + std::to_string(ms.count());
      lines[(i - 4) / 2] = line;
    });
  }
  io.run();
  for (const auto& l : lines) std::printf("%s\n", l.c_str());
  return 0;
}
