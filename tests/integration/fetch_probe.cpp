// Test driver for server/posture's policy fetch: fetches each DOMAIN's policy through tlsrpt's
// resolver and prints one line per domain: DOMAIN findings=F,... [bytes=N mode=M mx=A,B].
// Usage: fetch_probe DNS_SERVER TRUST_ANCHOR_FILE CA_FILE HTTPS_PORT TIMEOUT_MS DOMAIN...
#include <boost/asio.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "posture/fetch.hpp"

using namespace tlsrpt;

int main(int argc, char** argv) {
  if (argc < 7) {
    std::fprintf(stderr, "usage: fetch_probe DNS_SERVER TRUST_ANCHOR_FILE CA_FILE HTTPS_PORT TIMEOUT_MS DOMAIN...\n");
    return 2;
  }
  boost::asio::io_context io;
  dns::Settings ds;
  ds.server = argv[1];
  ds.trust_anchor_file = argv[2];
  ds.timeout = std::chrono::milliseconds(std::atoi(argv[5]));
  dns::Resolver resolver(io, ds);
  posture::FetchSettings fs;
  fs.ca_file = argv[3];
  fs.https_port = static_cast<unsigned short>(std::atoi(argv[4]));
  fs.timeout = std::chrono::milliseconds(std::atoi(argv[5]));
  std::vector<std::string> lines(static_cast<std::size_t>(argc - 6));
  for (int i = 6; i < argc; ++i)
    boost::asio::co_spawn(
        io,
        [&resolver, &lines, i, fs, domain = std::string(argv[i])]() -> boost::asio::awaitable<void> {
          const posture::Fetched f = co_await posture::fetch_policy(resolver, domain, fs);
          std::string line = domain + " findings=";
          for (std::size_t k = 0; k < f.problems.size(); ++k)
            line += (k ? "," : "") + std::string(policy::to_string(f.problems[k].finding));
          if (f.body) {
            line += " bytes=" + std::to_string(f.body->size());
            const auto p = policy::parse_sts_policy(*f.body);
            if (const auto* sp = std::get_if<policy::StsPolicy>(&p)) {
              line += " mode=" + std::string(policy::to_string(sp->mode)) + " mx=";
              for (std::size_t k = 0; k < sp->mx.size(); ++k) line += (k ? "," : "") + sp->mx[k];
            } else {
              line += " invalid=" + std::string(policy::to_string(std::get<policy::Problem>(p).finding));
            }
          }
          for (const auto& p : f.problems) line += " | " + p.detail;
          lines[static_cast<std::size_t>(i - 6)] = line;
        },
        boost::asio::detached);
  io.run();
  for (const auto& l : lines) std::printf("%s\n", l.c_str());
  return 0;
}
