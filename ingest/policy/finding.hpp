// Posture findings: what a check of a monitored domain can say about what it publishes.
//
// One closed enum, like the rejection reasons. Each value's name is stable: it will be printed by
// `tlsrpt check`, stored in the database and used as a metric label, so values are only ever
// added, never renamed. Each has a severity: error (mail may be refused or reports lost),
// warning (weaker than it should be, or soon an error), info (a state worth knowing).
#pragma once

#include <optional>
#include <span>
#include <string_view>

namespace tlsrpt::policy {

enum class Severity { error, warning, info };
std::string_view to_string(Severity severity);

// X(name, severity, description, hint). The hint is the remediation advice the web pages and
// GET /api/v1/hints show: what to check or change.
#define TLSRPT_FINDINGS(X) \
  X(sts_record_missing, warning, "no _mta-sts TXT record starting with v=STSv1: senders apply no MTA-STS policy", \
    "Publish a TXT record at _mta-sts.<domain> with v=STSv1; id=<new id>, once the policy is served at https://mta-sts.<domain>/.well-known/mta-sts.txt.") \
  X(sts_record_multiple, error, "several v=STSv1 records at _mta-sts: senders treat that as no policy", \
    "Keep exactly one v=STSv1 TXT record at _mta-sts.<domain>: delete the old one when you change the id.") \
  X(sts_record_invalid, error, "the v=STSv1 record is malformed or its id is not 1 to 32 letters and digits", \
    "Write the record as v=STSv1; id=<1 to 32 letters and digits>, for example the date and a counter: v=STSv1; id=2026120101.") \
  X(sts_policy_dns_failed, error, "the policy host mta-sts.<domain> does not resolve", \
    "Create an address record (A or AAAA, or a CNAME) for mta-sts.<domain> pointing at the web server that serves the policy.") \
  X(sts_policy_connect_failed, error, "no connection to the policy host on the HTTPS port", \
    "Open port 443 on the policy host to the internet and check that a web server listens there for mta-sts.<domain>.") \
  X(sts_policy_tls_failed, error, "the policy host's TLS handshake or WebPKI certificate check failed", \
    "Give mta-sts.<domain> a certificate from a public CA that names it, served with its intermediates; senders validate it like a browser.") \
  X(sts_policy_http_status, error, "the policy URL answered with a status other than 200", \
    "Serve the policy at exactly /.well-known/mta-sts.txt with status 200; check the virtual host and any access rules.") \
  X(sts_policy_redirect, error, "the policy URL redirects, which senders do not follow", \
    "Serve the policy directly from mta-sts.<domain>: senders must not follow redirects (RFC 8461 section 3.3), so an HTTP-to-HTTPS or www redirect breaks it.") \
  X(sts_policy_too_large, error, "the policy is larger than 64 KiB", \
    "Shorten the policy: it needs only version, mode, the mx lines and max_age.") \
  X(sts_policy_invalid, error, "the policy text does not follow RFC 8461 section 3.2", \
    "Write the policy as lines version: STSv1, mode: testing|enforce|none, one mx: line per MX pattern and max_age: <seconds>; tlsrpt check shows the line it could not read.") \
  X(sts_policy_content_type, warning, "the policy is not served as text/plain", \
    "Serve mta-sts.txt as Content-Type: text/plain; some senders refuse other types.") \
  X(sts_policy_cert_expiring, warning, "the policy host's certificate expires within checks.expiry_warning_days", \
    "Renew the certificate of mta-sts.<domain> (tlsrpt's policy.cert_dir picks a renewed file up by itself); once it expires, senders cannot fetch the policy.") \
  X(sts_mode_testing, info, "the policy is in testing mode: failures are reported, not enforced", \
    "Watch the reports until the readiness verdict says ready, then publish mode: enforce with a new id in the _mta-sts record.") \
  X(sts_mode_none, warning, "the policy is in mode none: MTA-STS is being withdrawn", \
    "If you are withdrawing MTA-STS, keep serving this policy for max_age before removing the record; otherwise publish testing or enforce.") \
  X(sts_mx_not_covered, error, "a DNS MX host matches no mx pattern of the policy", \
    "Add an mx: line for this MX host to the policy (or a *.<parent> pattern) and publish a new id, or remove the MX record: under enforce senders refuse it.") \
  X(sts_pattern_unused, warning, "an mx pattern of the policy matches no DNS MX host", \
    "Remove the mx pattern that no MX host matches, or add the MX record it was meant for.") \
  X(tlsrpt_record_missing, error, "no _smtp._tls TXT record starting with v=TLSRPTv1: no reports are sent", \
    "Publish a TXT record at _smtp._tls.<domain>: v=TLSRPTv1; rua=mailto:<the address tlsrpt receives>.") \
  X(tlsrpt_record_invalid, error, "the TLS-RPT record is malformed, or there are several", \
    "Keep one TXT record at _smtp._tls.<domain> of the form v=TLSRPTv1; rua=mailto:...[,https://...].") \
  X(tlsrpt_rua_missing, error, "the TLS-RPT record does not list the address tlsrpt expects", \
    "Add the address tlsrpt receives on to the rua list of the TLS-RPT record (or correct the domain's rua setting in tlsrpt).") \
  X(tlsrpt_rua_not_first, warning, "tlsrpt's address is not the first rua (Microsoft reports to the first only)", \
    "Put tlsrpt's address first in the rua list: some reporters send to the first address only.") \
  X(mx_missing, error, "the domain has no MX record", \
    "Publish MX records for the domain; without them senders fall back to its address records, which MTA-STS does not cover.") \
  X(mx_no_starttls, error, "an MX host does not offer STARTTLS", \
    "Enable STARTTLS on this MX host with a certificate that names it; check that nothing in front of it strips the STARTTLS capability.") \
  X(mx_tls_version, error, "an MX host negotiates a TLS version below 1.2", \
    "Allow TLS 1.2 and 1.3 on this MX host and disable older versions.") \
  X(mx_cert_expired, error, "an MX host's certificate has expired", \
    "Renew this MX host's certificate and reload the mail server so it serves the new one.") \
  X(mx_cert_expiring, warning, "an MX host's certificate expires within checks.expiry_warning_days", \
    "Renew this MX host's certificate before it expires, and make sure renewal is automatic and reloads the mail server.") \
  X(mx_cert_name_mismatch, error, "an MX host's certificate does not name the MX host", \
    "Add this MX host's name to its certificate (subjectAltName), or change the MX record to a name the certificate covers.") \
  X(mx_cert_untrusted, error, "an MX host's certificate chain is not trusted under WebPKI", \
    "Serve a certificate from a public CA with its full intermediate chain; self-signed or private-CA certificates fail MTA-STS.") \
  X(tlsa_not_secure, warning, "TLSA records exist but the answer is not DNSSEC-secure, so senders ignore them", \
    "Sign the zone with DNSSEC (and publish the DS at the parent) or remove the TLSA records: senders ignore TLSA records without DNSSEC.") \
  X(tlsa_no_match, error, "no usable TLSA record (usage 2 or 3) matches the MX host's certificate chain", \
    "Publish a TLSA record (3 1 1 or 2 1 1) computed from the key this MX host serves now; check every MX host serves the certificate you expect.") \
  X(tlsa_no_rollover, info, "only one TLSA record: publish the next key's record before a key rollover", \
    "Publish a second TLSA record for the next key before you change certificates, so the rollover does not break DANE.") \
  X(dnssec_bogus, error, "a DNSSEC-signed answer does not validate (bogus)", \
    "Fix the zone's DNSSEC: expired signatures, a DS at the parent that matches no key, or a broken chain. delv +vtrace shows where it fails.") \
  X(address_refused, error, "the policy host or an MX host resolves to a loopback, private, link-local or metadata address, which tlsrpt does not connect to", \
    "Publish public addresses for mta-sts.<domain> and the MX hosts: senders on the internet cannot reach the others either. (tlsrpt refuses them while checks.public_addresses_only is set.)") \
  X(check_incomplete, error, "a step of the check could not complete (timeout, no resolver): nothing is known to be clear", \
    "Check tlsrpt's resolver (dns.server) and network access to the domain's hosts; the detail names the step that did not finish.")

enum class Finding {
#define TLSRPT_X(name, severity, desc, hint) name,
  TLSRPT_FINDINGS(TLSRPT_X)
#undef TLSRPT_X
};

struct FindingInfo {
  Finding finding;
  std::string_view name;  // kebab-case: "sts-record-missing"
  Severity severity;
  std::string_view description;
  std::string_view hint;  // what to check or change
};

std::span<const FindingInfo> all_findings();
const FindingInfo& info(Finding finding);
std::string_view to_string(Finding finding);
std::optional<Finding> finding_from_string(std::string_view name);

}  // namespace tlsrpt::policy
