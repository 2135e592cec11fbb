#include "posture/fetch.hpp"

#include "net/client.hpp"

#include "posture/trust.hpp"


#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace tlsrpt::posture {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using policy::Finding;
using policy::Problem;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

bool is_text_plain(std::string_view content_type) {
  std::string_view t = content_type.substr(0, content_type.find(';'));
  while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
  return beast::iequals(t, "text/plain");
}

}  // namespace

asio::awaitable<Fetched> fetch_policy(dns::Resolver& resolver, std::string domain, FetchSettings settings) {
  Fetched out;
  const std::string host = "mta-sts." + domain;
  auto fail = [&out](Finding f, std::string detail) {
    out.problems.push_back(Problem{f, std::move(detail)});
    return out;
  };

  // Addresses of the policy host (CNAMEs followed by the resolver).
  std::vector<std::string> addresses;
  std::string dns_detail;
  bool incomplete = false;
  for (const dns::Type type : {dns::Type::a, dns::Type::aaaa}) {
    const dns::Answer a = co_await resolver.query(host, type);
    if (a.outcome == dns::Outcome::answer) {
      for (const auto& r : a.rdata)
        if (auto text = dns::address(r)) addresses.push_back(std::move(*text));
    } else if (a.outcome == dns::Outcome::timeout || a.outcome == dns::Outcome::error) {
      incomplete = true;
      dns_detail = host + ": " + a.why;
    } else if (dns_detail.empty()) {
      dns_detail = host + ": " + std::string(dns::to_string(a.outcome)) + (a.why.empty() ? "" : " (" + a.why + ")");
    }
  }
  if (addresses.empty())
    co_return fail(incomplete ? Finding::check_incomplete : Finding::sts_policy_dns_failed, dns_detail);

  auto executor = co_await asio::this_coro::executor;
  X509_STORE* store = webpki_store(settings.ca_file);
  if (!store) co_return fail(Finding::check_incomplete, "checks.ca_file " + settings.ca_file + " cannot be read");
  // TLS 1.2 and up, the WebPKI store: one context per checks.ca_file.
  asio::ssl::context& tls = client_context("policy\n" + settings.ca_file, [store](asio::ssl::context& c) {
    c.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 |
                  asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
    SSL_CTX_set1_cert_store(c.native_handle(), store);
    c.set_verify_mode(asio::ssl::verify_peer);
  });

  const auto deadline = std::chrono::steady_clock::now() + settings.timeout;
  std::string connect_detail, refused;
  for (const auto& address : addresses) {
    out.address = address;
    boost::system::error_code ec;
    const auto ip = asio::ip::make_address(address, ec);
    if (ec) continue;
    if (settings.public_only && !net::is_public(address)) {
      refused += (refused.empty() ? "" : ", ") + address;
      continue;
    }
    beast::ssl_stream<beast::tcp_stream> stream(executor, tls);
    beast::get_lowest_layer(stream).expires_at(deadline);
    const asio::ip::tcp::endpoint endpoint(ip, settings.https_port);
    auto [cec] = co_await beast::get_lowest_layer(stream).async_connect(endpoint, tuple_awaitable);
    if (cec) {
      connect_detail += (connect_detail.empty() ? "" : "; ") + address + ": " +
                        (cec == beast::error::timeout ? std::string("timed out") : cec.message());
      continue;
    }
    // SNI, and the name the certificate must carry (no partial wildcards, as RFC 6125 says).
    SSL_set_tlsext_host_name(stream.native_handle(), host.c_str());
    X509_VERIFY_PARAM* param = SSL_get0_param(stream.native_handle());
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
    auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::client, tuple_awaitable);
    if (hec) {
      const long verify = SSL_get_verify_result(stream.native_handle());
      co_return fail(Finding::sts_policy_tls_failed,
                     address + ": " + (verify != X509_V_OK ? X509_verify_cert_error_string(verify) : hec.message()));
    }
    if (X509* leaf = SSL_get1_peer_certificate(stream.native_handle())) {
      int days = 0, seconds = 0;
      if (ASN1_TIME_diff(&days, &seconds, nullptr, X509_get0_notAfter(leaf)) == 1 && days < settings.expiry_warning_days)
        out.problems.push_back(Problem{Finding::sts_policy_cert_expiring, host + ": expires in " + std::to_string(days) + " days"});
      X509_free(leaf);
    }
    http::request<http::empty_body> req{http::verb::get, "/.well-known/mta-sts.txt", 11};
    req.set(http::field::host, host);
    req.set(http::field::user_agent, "tlsrpt posture check");
    req.set(http::field::connection, "close");
    auto [wec, wn] = co_await http::async_write(stream, req, tuple_awaitable);
    (void)wn;
    if (wec) co_return fail(Finding::sts_policy_connect_failed, address + ": sending the request: " + wec.message());
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.header_limit(16 * 1024);
    parser.body_limit(policy::max_policy_size);
    auto [rec, rn] = co_await http::async_read(stream, buffer, parser, tuple_awaitable);
    (void)rn;
    if (rec == http::error::body_limit)
      co_return fail(Finding::sts_policy_too_large, address + ": the body is larger than 65536 bytes");
    if (rec && !(parser.is_header_done() && parser.is_done()))
      co_return fail(Finding::sts_policy_connect_failed,
                     address + ": reading the answer: " + (rec == beast::error::timeout ? "timed out" : rec.message()));
    const auto& res = parser.get();
    const unsigned status = res.result_int();
    if (status >= 300 && status < 400)
      co_return fail(Finding::sts_policy_redirect, address + ": status " + std::to_string(status) + " to " +
                                                       std::string(res[http::field::location]).substr(0, 200));
    if (status != 200) co_return fail(Finding::sts_policy_http_status, address + ": status " + std::to_string(status));
    const std::string content_type(res[http::field::content_type]);
    if (!is_text_plain(content_type))
      out.problems.push_back(Problem{Finding::sts_policy_content_type,
                                     "served as " + (content_type.empty() ? std::string("nothing") : content_type.substr(0, 100))});
    out.body = res.body();
    co_return out;
  }
  if (connect_detail.empty() && !refused.empty())
    co_return fail(Finding::address_refused, host + ": " + refused + " (checks.public_addresses_only)");
  co_return fail(Finding::sts_policy_connect_failed, host + ": " + connect_detail +
                                                         (refused.empty() ? "" : "; refused " + refused + " (checks.public_addresses_only)"));
}

}  // namespace tlsrpt::posture
