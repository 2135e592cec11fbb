#include "net/client.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace tlsrpt::net {

std::optional<Address> parse_address(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  if (text.empty() || text.size() > 45) return std::nullopt;
  char buf[46];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  Address a;
  unsigned char v4[4];
  if (inet_pton(AF_INET, buf, v4) == 1) {
    a.bytes[10] = a.bytes[11] = 0xff;
    std::memcpy(a.bytes.data() + 12, v4, 4);
    a.v4 = true;
    return a;
  }
  if (inet_pton(AF_INET6, buf, a.bytes.data()) != 1) return std::nullopt;
  static constexpr std::uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  a.v4 = std::memcmp(a.bytes.data(), mapped, 12) == 0;
  return a;
}

std::string client_key(const Address& address) {
  char buf[INET6_ADDRSTRLEN + 4];
  if (address.v4) {
    inet_ntop(AF_INET, address.bytes.data() + 12, buf, sizeof buf);
    return buf;
  }
  std::array<std::uint8_t, 16> prefix{};
  std::memcpy(prefix.data(), address.bytes.data(), 8);
  inet_ntop(AF_INET6, prefix.data(), buf, sizeof buf);
  return std::string(buf) + "/64";
}

std::string client_key(std::string_view text) {
  const auto a = parse_address(text);
  return a ? client_key(*a) : std::string(text);
}

bool Cidr::contains(const Address& a) const {
  unsigned bits = prefix;
  for (std::size_t i = 0; i < 16 && bits > 0; ++i, bits = bits >= 8 ? bits - 8 : 0) {
    const std::uint8_t mask = bits >= 8 ? 0xff : static_cast<std::uint8_t>(0xff << (8 - bits));
    if ((a.bytes[i] & mask) != (network.bytes[i] & mask)) return false;
  }
  return true;
}

std::optional<Cidr> parse_cidr(std::string_view text) {
  const auto slash = text.find('/');
  const auto address = parse_address(text.substr(0, slash));
  if (!address) return std::nullopt;
  Cidr c{*address, 128};
  if (slash == std::string_view::npos) return c;
  const std::string_view bits = text.substr(slash + 1);
  if (bits.empty() || bits.size() > 3 || bits.find_first_not_of("0123456789") != std::string_view::npos)
    return std::nullopt;
  const unsigned n = static_cast<unsigned>(std::stoul(std::string(bits)));
  if (n > (address->v4 ? 32u : 128u)) return std::nullopt;
  c.prefix = address->v4 ? 96 + n : n;
  return c;
}

bool contains(const std::vector<Cidr>& blocks, const Address& a) {
  for (const auto& b : blocks)
    if (b.contains(a)) return true;
  return false;
}

bool is_public(const Address& a) {
  static const std::vector<Cidr> not_public = [] {
    std::vector<Cidr> out;
    for (const char* block : {"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
                              "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/3", "::/128", "::1/128",
                              "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8"})
      out.push_back(*parse_cidr(block));
    return out;
  }();
  return !contains(not_public, a);
}

bool is_public(std::string_view text) {
  const auto a = parse_address(text);
  return a && is_public(*a);
}

std::optional<Address> forwarded_client(std::string_view header, const std::vector<Cidr>& trusted) {
  std::optional<Address> last;
  while (true) {
    const auto comma = header.rfind(',');
    std::string_view item = comma == std::string_view::npos ? header : header.substr(comma + 1);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    const auto a = parse_address(item);
    if (!a) return std::nullopt;
    if (!contains(trusted, *a)) return a;
    last = a;
    if (comma == std::string_view::npos) return last;  // every hop is a trusted proxy: the first
    header = header.substr(0, comma);
  }
}

RateLimit::RateLimit(double per_minute, std::size_t burst)
    : per_second_(per_minute / 60.0), burst_(static_cast<double>(burst)) {}

unsigned RateLimit::take(const std::string& client) { return use(client, true); }
unsigned RateLimit::wait(const std::string& client) { return use(client, false); }

unsigned RateLimit::use(const std::string& client, bool take) {
  std::lock_guard lock(mutex_);
  const auto now = std::chrono::steady_clock::now();
  if (buckets_.size() > 100000) prune(now);
  auto [it, fresh] = buckets_.try_emplace(client, Bucket{burst_, now});
  Bucket& b = it->second;
  if (!fresh) {
    b.tokens = std::min(burst_, b.tokens + per_second_ * std::chrono::duration<double>(now - b.last).count());
    b.last = now;
  }
  if (b.tokens >= 1) {
    if (take) b.tokens -= 1;
    return 0;
  }
  return static_cast<unsigned>((1 - b.tokens) / per_second_) + 1;
}

void RateLimit::prune(std::chrono::steady_clock::time_point now) {
  for (auto it = buckets_.begin(); it != buckets_.end();)
    it = it->second.tokens + per_second_ * std::chrono::duration<double>(now - it->second.last).count() >= burst_
             ? buckets_.erase(it)
             : std::next(it);
}

}  // namespace tlsrpt::net
