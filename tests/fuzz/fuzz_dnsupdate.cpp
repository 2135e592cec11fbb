// What tlsrpt reads of a name server and of the TSIG key file (server/dns/update): the first byte
// picks the reader, the rest is its input. 0: the key file (ALGORITHM:NAME:SECRET), which either
// gives a key of a known algorithm with a name and a base64 secret or fails with a message that
// never shows the secret; 1: dns.update_server, which gives a numeric address and a port or
// fails; otherwise an answer in wire format, which libldns takes or refuses, and whose rcode is
// always named and whose TXT strings come from the answer's own bytes.
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "common.hpp"
#include "dns/update.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tlsrpt::dns;
  if (size == 0) return 0;
  const std::string_view input = tlsrpt::fuzz::view(data + 1, size - 1);
  switch (data[0]) {
    case 0:
      try {
        const TsigKey k = parse_tsig_key(input);
        if (k.algorithm.empty() || k.name.empty() || k.secret.empty()) std::abort();
      } catch (const std::runtime_error& e) {
        const std::string what = e.what();
        if (what.empty()) std::abort();
        // The secret is never shown: the same text with another secret of the same length in the
        // line the reader takes (the first that is neither blank nor a comment) fails with the same
        // message (or passes, when the secret was what was wrong).
        std::string other(input);
        for (std::size_t start = 0; start < other.size();) {
          std::size_t end = other.find('\n', start);
          if (end == std::string::npos) end = other.size();
          std::size_t first = start;
          while (first < end && (other[first] == ' ' || other[first] == '\t')) ++first;
          std::size_t last = end;
          while (last > first && (other[last - 1] == ' ' || other[last - 1] == '\t' || other[last - 1] == '\r')) --last;
          if (first == last || other[first] == '#') {
            start = end + 1;
            continue;
          }
          const std::size_t c1 = other.find(':', first);
          const std::size_t c2 = c1 < last ? other.find(':', c1 + 1) : std::string::npos;
          if (c2 < last)
            for (std::size_t i = c2 + 1; i < last; ++i) other[i] = other[i] == 'A' ? 'B' : 'A';
          break;
        }
        try {
          parse_tsig_key(other);
        } catch (const std::runtime_error& e2) {
          if (what != e2.what()) std::abort();
        }
      }
      return 0;
    case 1:
      try {
        const Server s = parse_server(std::string(input));
        if (s.address.empty() || s.port == 0) std::abort();
      } catch (const std::runtime_error&) {
      }
      return 0;
    default: {
      const auto a = read_answer(input);  // a ServerAnswer
      if (!a) return 0;
      if (a->rcode.empty()) std::abort();
      std::size_t total = 0;
      for (const auto& t : a->txt) total += t.size();
      if (total > input.size()) std::abort();
      return 0;
    }
  }
}
