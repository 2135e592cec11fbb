// Who a client is: any bytes as an address, an address block and an X-Forwarded-For header.
// A parsed address always has a key; a key is stable under re-parsing; the client named by
// X-Forwarded-For is never one of the trusted blocks unless every hop is trusted.
#include <cstdlib>
#include <string>

#include "common.hpp"
#include "net/client.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tlsrpt;
  const std::string_view input = fuzz::view(data, size);
  if (const auto a = net::parse_address(input)) {
    const std::string key = net::client_key(*a);
    if (key.empty()) std::abort();
    if (!a->v4 && key.substr(key.size() - 3) != "/64") std::abort();
    if (a->v4 && net::client_key(key) != key) std::abort();
  }
  if (const auto c = net::parse_cidr(input)) {
    if (c->prefix > 128) std::abort();
    if (!c->contains(c->network)) std::abort();
  }
  static const std::vector<net::Cidr> trusted = {*net::parse_cidr("127.0.0.0/8"), *net::parse_cidr("2001:db8::/32")};
  if (const auto client = net::forwarded_client(input, trusted)) {
    if (net::contains(trusted, *client)) {
      // Only when every entry is trusted: then the leftmost one is returned.
      std::string_view rest = input;
      while (!rest.empty()) {
        const auto comma = rest.find(',');
        std::string_view item = rest.substr(0, comma);
        while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
        while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
        const auto a = net::parse_address(item);
        if (a && !net::contains(trusted, *a)) std::abort();
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      }
    }
  }
  return 0;
}
