#include <doctest/doctest.h>

#include "net/client.hpp"

using namespace tlsrpt::net;

TEST_CASE("client keys: an IPv4 address alone, an IPv6 address by its /64, mapped IPv4 as IPv4") {
  CHECK(client_key("192.0.2.7") == "192.0.2.7");
  CHECK(client_key("::ffff:192.0.2.7") == "192.0.2.7");
  CHECK(client_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64");
  CHECK(client_key("2001:db8:1:2::99") == client_key("2001:db8:1:2:ffff::1"));
  CHECK(client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1"));
  CHECK(client_key("[::1]") == "::/64");
  CHECK(client_key("not an address") == "not an address");
  CHECK_FALSE(parse_address("192.0.2.256"));
  CHECK_FALSE(parse_address("fe80::1%eth0"));
  CHECK_FALSE(parse_address(""));
}

TEST_CASE("address blocks") {
  const auto v4 = parse_cidr("192.0.2.0/24");
  REQUIRE(v4);
  CHECK(v4->contains(*parse_address("192.0.2.200")));
  CHECK(v4->contains(*parse_address("::ffff:192.0.2.1")));
  CHECK_FALSE(v4->contains(*parse_address("192.0.3.1")));
  const auto v6 = parse_cidr("2001:db8::/33");
  REQUIRE(v6);
  CHECK(v6->contains(*parse_address("2001:db8:7fff::1")));
  CHECK_FALSE(v6->contains(*parse_address("2001:db8:8000::1")));
  const auto one = parse_cidr("10.0.0.5");
  REQUIRE(one);
  CHECK(one->contains(*parse_address("10.0.0.5")));
  CHECK_FALSE(one->contains(*parse_address("10.0.0.6")));
  CHECK(parse_cidr("0.0.0.0/0")->contains(*parse_address("203.0.113.1")));
  for (const char* bad : {"192.0.2.0/33", "2001:db8::/129", "192.0.2.0/", "192.0.2.0/x", "/8", "10.0.0.0/08x"})
    CHECK_MESSAGE(!parse_cidr(bad), bad);
}

TEST_CASE("X-Forwarded-For: the rightmost address that is not a trusted proxy") {
  const std::vector<Cidr> trusted{*parse_cidr("10.0.0.0/8"), *parse_cidr("2001:db8::/32")};
  auto client = [&](std::string_view h) {
    const auto a = forwarded_client(h, trusted);
    return a ? client_key(*a) : std::string("none");
  };
  CHECK(client("203.0.113.9") == "203.0.113.9");
  // A client may send its own X-Forwarded-For: only what the trusted proxies appended counts.
  CHECK(client("1.2.3.4, 203.0.113.9, 10.0.0.2") == "203.0.113.9");
  CHECK(client("203.0.113.9,10.1.1.1 , 10.0.0.2") == "203.0.113.9");
  CHECK(client("2001:db8::5, 10.0.0.1") == "2001:db8::/64");  // every hop trusted: the first
  CHECK(client("2001:db9::5") == "2001:db9::/64");
  CHECK(client("") == "none");
  CHECK(client("garbage, 10.0.0.2") == "none");
  CHECK(client("203.0.113.9:4711") == "none");
}

TEST_CASE("rate buckets: a burst, then the rate") {
  RateLimit r(60, 3);  // one a second after three at once
  CHECK(r.take("a") == 0);
  CHECK(r.take("a") == 0);
  CHECK(r.take("a") == 0);
  CHECK(r.take("a") >= 1);
  CHECK(r.take("b") == 0);  // another client has its own bucket
}

TEST_CASE("public addresses: loopback, private, shared, link-local (metadata), multicast and reserved are not") {
  for (const char* a : {"127.0.0.1", "127.1.2.3", "10.255.255.1", "172.16.0.1", "172.31.255.255", "192.168.1.1",
                        "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "192.0.0.8",
                        "198.18.0.1", "::1", "::", "fe80::1", "fd00:ec2::254", "fc00::1", "ff02::1", "::ffff:127.0.0.1",
                        "::ffff:10.0.0.1", "fe80::1%eth0", "not an address", ""})
    CHECK_MESSAGE(!tlsrpt::net::is_public(std::string_view(a)), a);
  for (const char* a : {"192.0.2.1", "8.8.8.8", "172.32.0.1", "172.15.255.255", "100.128.0.1", "169.253.0.1",
                        "2001:db8::1", "2a00:1450:4001::1", "::ffff:8.8.8.8", "11.0.0.1"})
    CHECK_MESSAGE(tlsrpt::net::is_public(std::string_view(a)), a);
}
