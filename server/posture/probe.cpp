#include "posture/probe.hpp"

#include "net/client.hpp"

#include "posture/trust.hpp"


#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <ctime>
#include <memory>

namespace tlsrpt::posture {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using policy::Finding;
using policy::Problem;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

// One SMTP reply (all its lines) within the deadline: the code and the lines' texts.
struct Reply {
  int code = 0;
  std::vector<std::string> lines;
};

template <class Stream>
asio::awaitable<std::optional<Reply>> read_reply(Stream& stream, std::string& buffer) {
  Reply r;
  while (true) {
    std::size_t nl;
    while ((nl = buffer.find('\n')) == std::string::npos) {
      if (buffer.size() > 4096) co_return std::nullopt;  // a line longer than any SMTP reply line
      char chunk[2048];
      auto [ec, n] = co_await stream.async_read_some(asio::buffer(chunk), tuple_awaitable);
      if (ec) co_return std::nullopt;
      buffer.append(chunk, n);
    }
    std::string line = buffer.substr(0, nl);
    buffer.erase(0, nl + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.size() < 3 || r.lines.size() > 100) co_return std::nullopt;
    const int code = std::atoi(line.substr(0, 3).c_str());
    if (code < 200 || code > 599) co_return std::nullopt;
    r.code = code;
    r.lines.push_back(line.size() > 4 ? line.substr(4) : std::string());
    if (line.size() == 3 || line[3] == ' ') co_return r;
  }
}

std::string hex(const unsigned char* p, std::size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
  return out;
}

// The chain's verification under WebPKI with the system's CAs and `ca_file`, with validity
// dates left out (X509_V_FLAG_NO_CHECK_TIME): expiry is a finding of its own.
bool webpki_trusted(X509* leaf, STACK_OF(X509)* chain, const std::string& ca_file) {
  X509_STORE* store = webpki_store(ca_file);
  if (!store) return false;
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(), X509_STORE_CTX_free);
  if (!X509_STORE_CTX_init(ctx.get(), store, leaf, chain)) return false;
  X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx.get()), X509_V_FLAG_NO_CHECK_TIME);
  return X509_verify_cert(ctx.get()) == 1;
}

}  // namespace

asio::awaitable<Probe> probe_mx(std::string mx_host, std::string address, std::vector<dns::Tlsa> tlsa,
                                ProbeSettings settings) {
  Probe out;
  out.mx_host = mx_host;
  out.address = address;
  auto problem = [&out](Finding f, std::string detail) { out.problems.push_back(Problem{f, std::move(detail)}); };
  const std::string where = mx_host + " (" + address + (settings.key_type.empty() ? "" : ", " + settings.key_type) + ")";
  auto executor = co_await asio::this_coro::executor;
  boost::system::error_code ec;
  const auto ip = asio::ip::make_address(address, ec);
  if (ec) {
    problem(Finding::check_incomplete, where + ": not an address");
    co_return out;
  }
  if (settings.public_only && !net::is_public(address)) {
    problem(Finding::address_refused, where + ": not a public address (checks.public_addresses_only)");
    co_return out;
  }
  auto owned = std::make_shared<tcp::socket>(executor);
  tcp::socket& socket = *owned;
  asio::steady_timer deadline(executor, settings.timeout);
  deadline.async_wait([weak = std::weak_ptr<tcp::socket>(owned)](boost::system::error_code e) {
    if (auto s = weak.lock(); s && !e) {
      boost::system::error_code ignored;
      s->close(ignored);  // ends whatever step is under way
    }
  });
  struct Cancel {
    asio::steady_timer& t;
    ~Cancel() { t.cancel(); }
  } cancel{deadline};

  auto [cec] = co_await socket.async_connect(tcp::endpoint(ip, settings.smtp_port), tuple_awaitable);
  if (cec) {
    problem(Finding::check_incomplete, where + ": cannot connect to port " + std::to_string(settings.smtp_port) + ": " + cec.message());
    co_return out;
  }
  std::string buffer;
  auto greeting = co_await read_reply(socket, buffer);
  if (!greeting || greeting->code != 220) {
    problem(Finding::check_incomplete, where + ": no 220 greeting");
    co_return out;
  }
  const std::string ehlo = "EHLO " + settings.helo + "\r\n";
  auto [wec, wn] = co_await asio::async_write(socket, asio::buffer(ehlo), tuple_awaitable);
  (void)wn;
  // (no co_await inside a conditional expression: g++ 12 miscompiles that)
  std::optional<Reply> caps;
  if (!wec) caps = co_await read_reply(socket, buffer);
  if (!caps || caps->code != 250) {
    problem(Finding::check_incomplete, where + ": EHLO refused or unanswered");
    co_return out;
  }
  for (const auto& l : caps->lines)
    if (l.size() >= 8 && strncasecmp(l.c_str(), "STARTTLS", 8) == 0 && (l.size() == 8 || l[8] == ' ')) out.starttls = true;
  if (!out.starttls) {
    out.complete = true;
    problem(Finding::mx_no_starttls, where + ": STARTTLS is not offered");
    co_return out;
  }
  static const std::string starttls = "STARTTLS\r\n", quit = "QUIT\r\n";
  auto [sec, sn] = co_await asio::async_write(socket, asio::buffer(starttls), tuple_awaitable);
  (void)sn;
  std::optional<Reply> go;
  if (!sec) go = co_await read_reply(socket, buffer);
  if (!go || go->code != 220) {
    out.complete = true;
    problem(Finding::mx_no_starttls, where + ": STARTTLS offered but refused");
    co_return out;
  }

  // The handshake accepts any certificate: what it is worth is judged below, step by step.
  // One context per kind of probe (every signature algorithm, RSA only, ECDSA only), DANE-capable.
  asio::ssl::context& tls = client_context("probe\n" + settings.key_type, [&settings](asio::ssl::context& c) {
    c.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3);
    SSL_CTX* native = c.native_handle();
    SSL_CTX_set_security_level(native, 0);  // see what a lax sender would get, then judge it
    SSL_CTX_set_min_proto_version(native, TLS1_VERSION);
    if (settings.key_type == "RSA") {
      SSL_CTX_set1_sigalgs_list(native, "RSA-PSS+SHA256:RSA-PSS+SHA384:RSA-PSS+SHA512:rsa_pss_pss_sha256:"
                                        "rsa_pss_pss_sha384:rsa_pss_pss_sha512:RSA+SHA256:RSA+SHA384:RSA+SHA512:RSA+SHA1");
      SSL_CTX_set_cipher_list(native, "aRSA:@SECLEVEL=0");
    } else if (settings.key_type == "ECDSA") {
      SSL_CTX_set1_sigalgs_list(native, "ECDSA+SHA256:ECDSA+SHA384:ECDSA+SHA512:ECDSA+SHA1");
      SSL_CTX_set_cipher_list(native, "aECDSA:@SECLEVEL=0");
    }
    SSL_CTX_dane_enable(native);
    c.set_verify_mode(asio::ssl::verify_peer);
    c.set_verify_callback([](bool, asio::ssl::verify_context&) { return true; });
  });
  const bool dane = !tlsa.empty();
  asio::ssl::stream<tcp::socket&> stream(socket, tls);
  SSL* ssl = stream.native_handle();
  SSL_set_tlsext_host_name(ssl, mx_host.c_str());
  int usable = 0;
  if (dane && SSL_dane_enable(ssl, mx_host.c_str()) > 0) {
    // DANE-EE authenticates the key alone: no name checks (RFC 7672 3.1.1), as SMTP senders do.
    SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
    for (const auto& t : tlsa)
      if ((t.usage == 2 || t.usage == 3) &&
          SSL_dane_tlsa_add(ssl, t.usage, t.selector, t.matching, reinterpret_cast<const unsigned char*>(t.data.data()),
                            t.data.size()) > 0)
        ++usable;
  }
  auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::client, tuple_awaitable);
  if (hec) {
    out.complete = true;
    problem(Finding::mx_no_starttls, where + ": the TLS handshake failed: " + hec.message());
    co_return out;
  }
  out.tls_version = SSL_get_version(ssl);
  if (SSL_version(ssl) < TLS1_2_VERSION) problem(Finding::mx_tls_version, where + ": negotiated " + out.tls_version);

  X509* leaf = SSL_get0_peer_certificate(ssl);
  if (!leaf) {
    problem(Finding::mx_cert_untrusted, where + ": no certificate");
    out.complete = true;
    co_return out;
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  X509_digest(leaf, EVP_sha256(), md, &mdlen);
  out.sha256 = hex(md, mdlen);
  switch (EVP_PKEY_get_base_id(X509_get0_pubkey(leaf))) {
    case EVP_PKEY_RSA:
    case EVP_PKEY_RSA_PSS: out.key_type = "RSA"; break;
    case EVP_PKEY_EC: out.key_type = "ECDSA"; break;
    case EVP_PKEY_ED25519: out.key_type = "Ed25519"; break;
    case EVP_PKEY_ED448: out.key_type = "Ed448"; break;
    default: out.key_type = "other"; break;
  }
  if (GENERAL_NAMES* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr))) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans) && i < 100; ++i) {
      const GENERAL_NAME* n = sk_GENERAL_NAME_value(sans, i);
      if (n->type == GEN_DNS)
        out.names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(n->d.dNSName)),
                               static_cast<std::size_t>(ASN1_STRING_length(n->d.dNSName)));
    }
    GENERAL_NAMES_free(sans);
  }
  // Expiry.
  std::time_t now = std::time(nullptr);
  struct tm t {};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &t) == 1) {
    out.not_after = timegm(&t);
    const std::int64_t left = *out.not_after - now;
    if (left <= 0)
      problem(Finding::mx_cert_expired, where + ": expired " + std::to_string(-left / 86400) + " days ago");
    else if (left < std::int64_t(settings.expiry_warning_days) * 86400)
      problem(Finding::mx_cert_expiring, where + ": expires in " + std::to_string(left / 86400) + " days");
  }
  // The name, as RFC 8461 and RFC 7672 (for usage 2) want it: no partial wildcards.
  out.name_matches = X509_check_host(leaf, mx_host.c_str(), mx_host.size(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, nullptr) == 1;
  if (!out.name_matches) {
    std::string names;
    for (const auto& n : out.names) names += (names.empty() ? "" : ", ") + n;
    problem(Finding::mx_cert_name_mismatch,
            where + ": the certificate names " + (names.empty() ? std::string("no DNS name") : names));
  }
  // Trust under WebPKI, dates aside, so that expiry is not counted twice.
  out.trusted = webpki_trusted(leaf, SSL_get_peer_cert_chain(ssl), settings.ca_file);
  if (!out.trusted) problem(Finding::mx_cert_untrusted, where + ": the chain does not lead to a trusted CA");
  // DANE.
  if (dane && usable > 0) {
    X509* mcert = nullptr;
    EVP_PKEY* mspki = nullptr;
    out.tlsa_matched = SSL_get0_dane_authority(ssl, &mcert, &mspki) >= 0;
    if (!out.tlsa_matched)
      problem(Finding::tlsa_no_match, where + ": none of " + std::to_string(usable) + " TLSA records matches");
    if (usable < 2) problem(Finding::tlsa_no_rollover, where + ": one TLSA record; publish the next key's before a rollover");
  }
  out.complete = true;
  co_await asio::async_write(stream, asio::buffer(quit), tuple_awaitable);
  co_return out;
}

}  // namespace tlsrpt::posture
