#include "posture/check.hpp"
#include "json/text.hpp"


#include <openssl/evp.h>

#include <algorithm>
#include <boost/asio.hpp>

#include "pipeline/output.hpp"

namespace tlsrpt::posture {
namespace {

namespace asio = boost::asio;
using policy::Finding;

// The TXT texts at `name`, or nullopt when the lookup did not give a usable answer (a finding
// says why: incomplete or bogus); no records is an empty list.
asio::awaitable<std::optional<std::vector<std::string>>> txt(dns::Resolver& resolver, const std::string& name,
                                                           Result& out) {
  const dns::Answer a = co_await resolver.query(name, dns::Type::txt);
  std::vector<std::string> texts;
  switch (a.outcome) {
    case dns::Outcome::answer:
      for (const auto& r : a.rdata)
        if (auto t = dns::txt_text(r)) texts.push_back(std::move(*t));
      co_return texts;
    case dns::Outcome::nodata:
    case dns::Outcome::nxdomain: co_return texts;
    case dns::Outcome::bogus: out.findings.push_back({Finding::dnssec_bogus, name, a.why}); co_return std::nullopt;
    default:
      out.findings.push_back({Finding::check_incomplete, name, "TXT lookup: " + std::string(dns::to_string(a.outcome)) +
                                                                   (a.why.empty() ? "" : ": " + a.why)});
      co_return std::nullopt;
  }
}

std::string sha256_hex(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &n, EVP_sha256(), nullptr);
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    out += digits[md[i] >> 4];
    out += digits[md[i] & 15];
  }
  return out;
}

}  // namespace

bool Result::incomplete() const {
  return std::any_of(findings.begin(), findings.end(), [](const auto& f) { return f.finding == Finding::check_incomplete; });
}

bool Result::has_error() const {
  return std::any_of(findings.begin(), findings.end(),
                     [](const auto& f) { return policy::info(f.finding).severity == policy::Severity::error; });
}

asio::awaitable<Result> check_domain(dns::Resolver& resolver, std::string domain, CheckSettings settings) {
  Result out;
  out.domain = domain;
  auto add = [&out](Finding f, std::string subject, std::string detail) {
    out.findings.push_back({f, std::move(subject), std::move(detail)});
  };

  // MTA-STS: the record, then (only with a valid record, as senders do) the policy.
  // Arguments of co_await calls are named locals, not temporaries: g++ 12 mishandles temporaries
  // (and conditional expressions) in a co_await's full expression.
  const std::string sts_name = "_mta-sts." + domain, tlsrpt_name = "_smtp._tls." + domain;
  if (auto records = co_await txt(resolver, sts_name, out)) {
    const auto parsed = policy::parse_sts_records(*records);
    if (const auto* p = std::get_if<policy::Problem>(&parsed)) {
      add(p->finding, domain, p->detail);
    } else {
      out.sts_id = std::get<policy::StsRecord>(parsed).id;
      const Fetched f = co_await fetch_policy(resolver, domain, settings.fetch);
      for (const auto& fp : f.problems) add(fp.finding, "mta-sts." + domain, fp.detail);
      if (f.body) {
        out.policy_text = *f.body;
        const auto pol = policy::parse_sts_policy(*f.body);
        if (const auto* pp = std::get_if<policy::Problem>(&pol)) {
          add(pp->finding, "mta-sts." + domain, pp->detail);
        } else {
          out.policy = std::get<policy::StsPolicy>(pol);
          if (out.policy->mode == policy::Mode::testing) add(Finding::sts_mode_testing, domain, "mode: testing");
          if (out.policy->mode == policy::Mode::none) add(Finding::sts_mode_none, domain, "mode: none");
        }
      }
    }
  }

  // TLS-RPT: the record, and tlsrpt's own address in it, first.
  if (auto records = co_await txt(resolver, tlsrpt_name, out)) {
    const auto parsed = policy::parse_tlsrpt_records(*records);
    if (const auto* p = std::get_if<policy::Problem>(&parsed)) {
      add(p->finding, domain, p->detail);
    } else {
      out.rua = std::get<policy::TlsrptRecord>(parsed).rua;
      if (!settings.expected_rua.empty()) {
        const auto it = std::find_if(out.rua->begin(), out.rua->end(),
                                     [&](const std::string& u) { return policy::rua_names(u, settings.expected_rua); });
        if (it == out.rua->end())
          add(Finding::tlsrpt_rua_missing, domain, "rua does not list mailto:" + settings.expected_rua);
        else if (it != out.rua->begin())
          add(Finding::tlsrpt_rua_not_first, domain,
              "mailto:" + settings.expected_rua + " is rua number " + std::to_string(it - out.rua->begin() + 1));
      }
    }
  }

  // MX hosts, their addresses, TLSA records and STARTTLS.
  const dns::Answer mx = co_await resolver.query(domain, dns::Type::mx);
  out.mx_secure = mx.secure;
  if (mx.outcome == dns::Outcome::answer) {
    for (const auto& r : mx.rdata)
      if (auto m = dns::mx(r); m && !m->host.empty()) out.mx.push_back({m->preference, m->host, {}, false, {}, {}});
    std::sort(out.mx.begin(), out.mx.end(), [](const MxEntry& a, const MxEntry& b) {
      return a.preference != b.preference ? a.preference < b.preference : a.host < b.host;
    });
    if (out.mx.size() > settings.max_mx) out.mx.resize(settings.max_mx);
    if (out.mx.empty()) add(Finding::mx_missing, domain, "only a null MX (the domain takes no mail)");
  } else if (mx.outcome == dns::Outcome::nodata || mx.outcome == dns::Outcome::nxdomain) {
    add(Finding::mx_missing, domain, std::string("MX lookup: ") + std::string(dns::to_string(mx.outcome)));
  } else if (mx.outcome == dns::Outcome::bogus) {
    add(Finding::dnssec_bogus, domain, "MX: " + mx.why);
  } else {
    add(Finding::check_incomplete, domain, "MX lookup: " + std::string(dns::to_string(mx.outcome)) + " " + mx.why);
  }
  for (auto& m : out.mx) {
    for (const dns::Type type : {dns::Type::a, dns::Type::aaaa}) {
      const dns::Answer a = co_await resolver.query(m.host, type);
      if (a.outcome == dns::Outcome::answer) {
        for (const auto& r : a.rdata)
          if (auto text = dns::address(r); text && m.addresses.size() < settings.max_addresses) m.addresses.push_back(*text);
      } else if (a.outcome == dns::Outcome::bogus) {
        add(Finding::dnssec_bogus, m.host, a.why);
      } else if (a.outcome == dns::Outcome::timeout || a.outcome == dns::Outcome::error || a.outcome == dns::Outcome::servfail) {
        add(Finding::check_incomplete, m.host, "address lookup: " + std::string(dns::to_string(a.outcome)));
      }
    }
    // DANE counts only when the MX answer and the TLSA answer are both DNSSEC-secure (RFC 7672).
    const std::string tlsa_name = "_25._tcp." + m.host;
    const dns::Answer t = co_await resolver.query(tlsa_name, dns::Type::tlsa);
    if (t.outcome == dns::Outcome::answer) {
      for (const auto& r : t.rdata)
        if (auto rec = dns::tlsa(r)) m.tlsa.push_back(std::move(*rec));
      m.tlsa_secure = t.secure && out.mx_secure;
      if (!m.tlsa_secure)
        add(Finding::tlsa_not_secure, m.host,
            std::string(t.secure ? "the MX answer" : "the TLSA answer") + " is not DNSSEC-secure, so senders ignore the TLSA records");
    } else if (t.outcome == dns::Outcome::bogus) {
      add(Finding::dnssec_bogus, "_25._tcp." + m.host, t.why);
    } else if (t.outcome == dns::Outcome::timeout || t.outcome == dns::Outcome::error) {
      add(Finding::check_incomplete, m.host, "TLSA lookup: " + std::string(dns::to_string(t.outcome)));
    }
    if (m.addresses.empty()) add(Finding::check_incomplete, m.host, "no address to probe");
    std::vector<dns::Tlsa> usable;
    if (m.tlsa_secure) usable = m.tlsa;
    for (const auto& address : m.addresses) {
      Probe p = co_await probe_mx(m.host, address, usable, settings.probe);
      // A server with an RSA and an ECDSA certificate presents one by default; the other is
      // reached by offering only its kind, and judged the same way. A handshake that fails then
      // means there is no other certificate: not a finding.
      std::optional<Probe> other;
      if (p.key_type == "RSA" || p.key_type == "ECDSA") {
        ProbeSettings alt = settings.probe;
        alt.key_type = p.key_type == "RSA" ? "ECDSA" : "RSA";
        Probe q = co_await probe_mx(m.host, address, usable, alt);
        if (!q.sha256.empty() && q.sha256 != p.sha256) other = std::move(q);
      }
      for (Probe* each : {&p, other ? &*other : nullptr}) {
        if (!each) continue;
        // DANE-EE (usage 3) authenticates the key alone, names and dates aside (RFC 7672
        // 3.1.1): without an MTA-STS policy to satisfy too, those are not findings.
        const bool dane_only = each->tlsa_matched && !out.policy &&
                               std::all_of(usable.begin(), usable.end(), [](const dns::Tlsa& rec) { return rec.usage == 3; });
        for (const auto& problem : each->problems)
          if (!dane_only || (problem.finding != Finding::mx_cert_name_mismatch && problem.finding != Finding::mx_cert_untrusted &&
                             problem.finding != Finding::mx_cert_expired && problem.finding != Finding::mx_cert_expiring))
            add(problem.finding, m.host, problem.detail);
        m.probes.push_back(std::move(*each));
      }
    }
  }

  // The policy against the MX hosts.
  if (out.policy && out.policy->mode != policy::Mode::none && !out.mx.empty()) {
    for (const auto& m : out.mx)
      if (std::none_of(out.policy->mx.begin(), out.policy->mx.end(), [&](const std::string& p) { return policy::mx_matches(p, m.host); }))
        add(Finding::sts_mx_not_covered, m.host, "no mx pattern of the policy matches " + m.host);
    for (const auto& pattern : out.policy->mx)
      if (std::none_of(out.mx.begin(), out.mx.end(), [&](const MxEntry& m) { return policy::mx_matches(pattern, m.host); }))
        add(Finding::sts_pattern_unused, domain, "mx: " + pattern + " matches no MX host");
  }
  co_return out;
}

std::string to_json(const Result& r) {
  std::string out;
  json::Writer w(out, false, json::Input::bytes);
  w.begin_object();
  w.field("domain", r.domain);
  w.key("findings");
  w.begin_array();
  for (const auto& f : r.findings) {
    w.begin_object();
    w.field("finding", policy::to_string(f.finding));
    w.field("severity", policy::to_string(policy::info(f.finding).severity));
    w.field("subject", f.subject);
    w.field("detail", f.detail);
    w.end_object();
  }
  w.end_array();
  w.key("complete");
  w.boolean(!r.incomplete());
  w.key("mta_sts");
  if (r.sts_id) {
    w.begin_object();
    w.field("id", *r.sts_id);
    if (r.policy) {
      w.field("mode", policy::to_string(r.policy->mode));
      w.field("max_age", static_cast<std::int64_t>(r.policy->max_age));
      w.key("mx");
      w.strings(r.policy->mx);
    } else {
      for (const char* k : {"mode", "max_age", "mx"}) {
        w.key(k);
        w.null();
      }
    }
    w.field("text", r.policy_text);
    w.field("sha256", r.policy_text ? std::optional<std::string>(sha256_hex(*r.policy_text)) : std::nullopt);
    w.end_object();
  } else {
    w.null();
  }
  w.key("tlsrpt");
  if (r.rua) {
    w.begin_object();
    w.key("rua");
    w.strings(*r.rua);
    w.end_object();
  } else {
    w.null();
  }
  w.key("mx_secure");
  w.boolean(r.mx_secure);
  w.key("mx");
  w.begin_array();
  for (const MxEntry& m : r.mx) {
    w.begin_object();
    w.field("preference", static_cast<std::int64_t>(m.preference));
    w.field("host", m.host);
    w.key("addresses");
    w.strings(m.addresses);
    w.key("tlsa");
    w.begin_object();
    w.key("secure");
    w.boolean(m.tlsa_secure);
    w.key("records");
    w.begin_array();
    for (const dns::Tlsa& t : m.tlsa) {
      static constexpr char digits[] = "0123456789abcdef";
      std::string data;
      for (unsigned char c : t.data) {
        data += digits[c >> 4];
        data += digits[c & 15];
      }
      w.value(std::to_string(t.usage) + " " + std::to_string(t.selector) + " " + std::to_string(t.matching) + " " + data);
    }
    w.end_array();
    w.end_object();
    w.key("probes");
    w.begin_array();
    for (const Probe& p : m.probes) {
      w.begin_object();
      w.field("address", p.address);
      w.key("complete");
      w.boolean(p.complete);
      w.key("starttls");
      w.boolean(p.starttls);
      w.optional_field("tls_version", p.tls_version);
      w.key("certificate");
      if (!p.sha256.empty()) {
        w.begin_object();
        w.field("not_after", p.not_after ? std::optional<std::string>(report::format_datetime(*p.not_after))
                                                 : std::nullopt);
        w.field("key_type", p.key_type);
        w.key("names");
        w.strings(p.names);
        w.field("sha256", p.sha256);
        w.key("trusted");
        w.boolean(p.trusted);
        w.key("name_matches");
        w.boolean(p.name_matches);
        w.end_object();
      } else {
        w.null();
      }
      w.key("tlsa_matched");
      w.boolean(p.tlsa_matched);
      w.end_object();
    }
    w.end_array();
    w.end_object();
  }
  w.end_array();
  w.end_object();
  return out;
}

std::string to_text(const Result& r) {
  std::size_t counts[3] = {0, 0, 0};
  for (const auto& f : r.findings) ++counts[static_cast<int>(policy::info(f.finding).severity)];
  std::string out = r.domain + ": " + (r.incomplete() ? "INCOMPLETE, " : "") + std::to_string(counts[0]) + " errors, " +
                    std::to_string(counts[1]) + " warnings, " + std::to_string(counts[2]) + " notes";
  if (r.policy) out += "; MTA-STS " + std::string(policy::to_string(r.policy->mode));
  out += "; " + std::to_string(r.mx.size()) + " MX\n";
  for (const auto& f : r.findings) {
    char line[96];
    std::snprintf(line, sizeof line, "  %-8s %-24s %s: ", std::string(policy::to_string(policy::info(f.finding).severity)).c_str(),
                  std::string(policy::to_string(f.finding)).c_str(), f.subject.c_str());
    out += line + f.detail + "\n";
  }
  return out;
}

}  // namespace tlsrpt::posture
