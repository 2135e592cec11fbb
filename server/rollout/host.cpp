#include "rollout/host.hpp"

#include <fcntl.h>
#include <unistd.h>

#include "rollout/rollout.hpp"

namespace tlsrpt::rollout {
namespace {

constexpr std::string_view policy_path = "/.well-known/mta-sts.txt";
constexpr std::string_view challenge_prefix = "/.well-known/acme-challenge/";

bool token_like(std::string_view t) {
  if (t.empty() || t.size() > 255) return false;
  for (const char c : t)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
  return true;
}

http_server::Response text(unsigned status, std::string body) {
  http_server::Response r;
  r.status = status;
  r.content_type = "text/plain";
  r.body = std::move(body);
  return r;
}

}  // namespace

void PolicyHost::set(const std::vector<store::HostedPolicy>& policies) {
  auto next = std::make_shared<std::map<std::string, std::string>>();
  for (const auto& p : policies) (*next)["mta-sts." + p.domain] = policy_text(p.mode, p.mx, p.max_age);
  policies_.store(std::move(next));
}

std::string PolicyHost::served(const std::string& domain) const {
  const auto all = policies_.load();
  const auto it = all->find("mta-sts." + domain);
  return it == all->end() ? std::string() : it->second;
}

http_server::Response PolicyHost::not_found() {
  ++stats_.not_found;
  return text(404, "not found\r\n");
}

std::optional<http_server::Response> PolicyHost::check(const http_server::Request& head) {
  if (head.method != "GET") {
    ++stats_.refused;
    auto r = text(405, "only GET\r\n");
    r.headers.emplace_back("Allow", "GET");
    return r;
  }
  if (head.content_length.value_or(0) > 0 || head.chunked) {
    ++stats_.refused;
    return text(400, "a GET has no body\r\n");
  }
  return std::nullopt;
}

http_server::Response PolicyHost::handle(const http_server::Request& rq) {
  if (rq.tls) {
    // The host asked for in the handshake and in the request must be the same hosted name.
    if (rq.path != policy_path || !rq.query.empty() || rq.host.empty() || rq.host != rq.sni) return not_found();
    const auto all = policies_.load();
    const auto it = all->find(rq.host);
    if (it == all->end()) return not_found();
    ++stats_.served;
    return text(200, it->second);
  }
  if (webroot_.empty() || !rq.path.starts_with(challenge_prefix) || !rq.query.empty()) return not_found();
  const std::string_view token = std::string_view(rq.path).substr(challenge_prefix.size());
  if (!token_like(token)) return not_found();
  const std::string file = webroot_ + "/.well-known/acme-challenge/" + std::string(token);
  const int fd = ::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return not_found();
  std::string body(4097, '\0');
  const ssize_t n = ::read(fd, body.data(), body.size());
  ::close(fd);
  if (n < 0 || n > 4096) return not_found();
  body.resize(static_cast<std::size_t>(n));
  ++stats_.challenges;
  auto r = text(200, std::move(body));
  r.content_type = "application/octet-stream";
  return r;
}

metrics::Families families(const HostStats& st) {
  const std::string name = "tlsrpt_policy_requests_total",
                    help = "requests to the policy listener and the ACME listener, by result";
  return {
      {name, help, true, metrics::reading(st.served), {{"result", "policy"}}},
      {name, help, true, metrics::reading(st.challenges), {{"result", "acme_challenge"}}},
      {name, help, true, metrics::reading(st.not_found), {{"result", "not_found"}}},
      {name, help, true, metrics::reading(st.refused), {{"result", "refused"}}},
  };
}

}  // namespace tlsrpt::rollout
