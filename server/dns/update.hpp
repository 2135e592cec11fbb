// RFC 2136 dynamic updates signed with TSIG (RFC 8945), for the _mta-sts records of the hosted
// domains: libldns builds, signs and sends the messages and checks the signature of the answer;
// nothing here writes DNS wire format by hand.
//
// Purpose: replace one owner's TXT records at the primary name server (dns.update_server), and
// read them back from it. Trusts: nothing the server answers (libldns parses it; an answer whose
// TSIG does not verify is never taken for a success). Blocking, bounded by `timeout` per message
// (UDP, then TCP when the answer is truncated). Errors: an Update with ok = false and the reason
// (the rcode and TSIG error as the server gave them, or the transport's failure).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tlsrpt::dns {

struct TsigKey {
  std::string algorithm;  // hmac-sha256, hmac-sha384, hmac-sha512, hmac-sha224, hmac-sha1, hmac-md5
  std::string name;       // the key's name, as the server knows it
  std::string secret;     // base64
};
// "ALGORITHM:NAME:SECRET" (one line, as knsupdate -k and nsupdate -y take it; "#" lines and blank
// lines are skipped). Throws std::runtime_error saying what is wrong (never the secret).
TsigKey parse_tsig_key(std::string_view text);
TsigKey read_tsig_key(const std::string& path);

struct Server {
  std::string address;  // numeric
  std::uint16_t port = 53;
};
// ADDRESS, ADDRESS:PORT, ADDRESS@PORT or [IPv6]:PORT. Throws std::runtime_error.
Server parse_server(const std::string& text);

struct Update {
  bool ok = false;
  std::string zone;    // the zone that holds the owner (from the server's SOA)
  std::string detail;  // what the server answered, or why nothing was sent
};
// Deletes every TXT record of `owner` and adds one with `text` and `ttl`, in one update message
// to the zone that holds `owner`.
Update replace_txt(const Server& server, const TsigKey& key, const std::string& owner, const std::string& text,
                   std::uint32_t ttl, std::chrono::milliseconds timeout);
// The TXT records of `owner` as the server itself answers (each record's strings joined);
// nullopt when it gives no answer.
std::optional<std::vector<std::string>> query_txt(const Server& server, const std::string& owner,
                                                  std::chrono::milliseconds timeout);

// What tlsrpt reads of a name server's answer (the same for every answer it gets: the SOA
// query, the update's answer, the TXT read-back).
struct ServerAnswer {
  std::string rcode;  // "NOERROR", "NOTAUTH", ...
  bool noerror = false, nxdomain = false;
  std::string tsig_error;          // "BADSIG", "BADKEY", "BADTIME", "" when none
  std::vector<std::string> txt;    // the answer section's TXT records, each one's strings joined
  std::string soa_owner;           // the owner of the first SOA in the answer or authority section
};
// An answer in wire format, parsed by libldns (for the fuzz target: what a server can send);
// nullopt when libldns does not take it.
std::optional<ServerAnswer> read_answer(std::string_view wire);

}  // namespace tlsrpt::dns
