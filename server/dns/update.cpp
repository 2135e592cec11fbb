#include "dns/update.hpp"

#include <ldns/ldns.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

#include <arpa/inet.h>

namespace tlsrpt::dns {
namespace {

template <class T, void (*F)(T*)>
struct Free {
  void operator()(T* p) const { F(p); }
};
using Resolver = std::unique_ptr<ldns_resolver, Free<ldns_resolver, ldns_resolver_deep_free>>;
using Packet = std::unique_ptr<ldns_pkt, Free<ldns_pkt, ldns_pkt_free>>;
using Rdf = std::unique_ptr<ldns_rdf, Free<ldns_rdf, ldns_rdf_deep_free>>;
using RrList = std::unique_ptr<ldns_rr_list, Free<ldns_rr_list, ldns_rr_list_deep_free>>;

std::string trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return std::string(s);
}

// AF_INET or AF_INET6 for a numeric address, 0 otherwise.
int numeric_family(const std::string& text) {
  unsigned char buffer[16];
  if (inet_pton(AF_INET, text.c_str(), buffer) == 1) return AF_INET;
  if (inet_pton(AF_INET6, text.c_str(), buffer) == 1) return AF_INET6;
  return 0;
}

std::string absolute(std::string name) {
  if (name.empty() || name.back() != '.') name += '.';
  return name;
}

Resolver resolver(const Server& server, std::chrono::milliseconds timeout, const TsigKey* key) {
  Resolver r(ldns_resolver_new());
  if (!r) throw std::runtime_error("out of memory");
  const int family = numeric_family(server.address);
  if (!family) throw std::runtime_error("'" + server.address + "' is not a numeric address");
  Rdf address(ldns_rdf_new_frm_str(family == AF_INET ? LDNS_RDF_TYPE_A : LDNS_RDF_TYPE_AAAA, server.address.c_str()));
  if (!address || ldns_resolver_push_nameserver(r.get(), address.get()) != LDNS_STATUS_OK)
    throw std::runtime_error("'" + server.address + "' is not a usable address");
  ldns_resolver_set_port(r.get(), server.port);
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ldns_resolver_set_timeout(r.get(), tv);
  ldns_resolver_set_retry(r.get(), 1);
  ldns_resolver_set_recursive(r.get(), false);
  ldns_resolver_set_fallback(r.get(), true);  // TCP when the answer is truncated
  ldns_resolver_set_random(r.get(), false);
  if (key) {
    ldns_resolver_set_tsig_keyname(r.get(), absolute(key->name).c_str());  // each copied into the resolver
    ldns_resolver_set_tsig_keydata(r.get(), key->secret.c_str());
    ldns_resolver_set_tsig_algorithm(r.get(), absolute(key->algorithm).c_str());
  }
  return r;
}

std::string rcode_name(const ldns_pkt* p) {
  char* text = ldns_pkt_rcode2str(ldns_pkt_get_rcode(p));
  std::string out = text ? text : "rcode " + std::to_string(ldns_pkt_get_rcode(p));
  free(text);
  return out;
}

// The TSIG error of an answer (RFC 8945 section 5.3.2: BADSIG, BADKEY, BADTIME), "" when none.
std::string tsig_error(const ldns_pkt* p) {
  const ldns_rr* tsig = ldns_pkt_tsig(p);
  if (!tsig || ldns_rr_rd_count(tsig) < 6) return "";
  switch (ldns_rdf2native_int16(ldns_rr_rdf(tsig, 5))) {
    case 0: return "";
    case 16: return "BADSIG";
    case 17: return "BADKEY";
    case 18: return "BADTIME";
    case 22: return "BADTRUNC";
    default: return "TSIG error " + std::to_string(ldns_rdf2native_int16(ldns_rr_rdf(tsig, 5)));
  }
}

// What tlsrpt reads of any answer: its rcode, TSIG error, TXT strings and SOA owner.
ServerAnswer summarize(const ldns_pkt* p) {
  ServerAnswer a;
  a.rcode = rcode_name(p);
  a.noerror = ldns_pkt_get_rcode(p) == LDNS_RCODE_NOERROR;
  a.nxdomain = ldns_pkt_get_rcode(p) == LDNS_RCODE_NXDOMAIN;
  a.tsig_error = tsig_error(p);
  for (const ldns_rr_list* list : {ldns_pkt_answer(p), ldns_pkt_authority(p)})
    for (std::size_t i = 0; list && i < ldns_rr_list_rr_count(list); ++i) {
      const ldns_rr* rr = ldns_rr_list_rr(list, i);
      if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA && a.soa_owner.empty()) {
        char* text = ldns_rdf2str(ldns_rr_owner(rr));
        a.soa_owner = text ? text : "";
        free(text);
      }
      if (list != ldns_pkt_answer(p) || ldns_rr_get_type(rr) != LDNS_RR_TYPE_TXT) continue;
      std::string joined;
      for (std::size_t j = 0; j < ldns_rr_rd_count(rr); ++j) {
        const ldns_rdf* f = ldns_rr_rdf(rr, j);
        const std::uint8_t* data = ldns_rdf_data(f);
        const std::size_t size = ldns_rdf_size(f);
        if (size == 0) continue;
        const std::size_t n = std::min<std::size_t>(data[0], size - 1);  // a character-string: length, then bytes
        joined.append(reinterpret_cast<const char*>(data + 1), n);
      }
      a.txt.push_back(std::move(joined));
    }
  return a;
}

std::string status_text(ldns_status s) { return ldns_get_errorstr_by_id(s) ? ldns_get_errorstr_by_id(s) : "error"; }

// The zone that holds `owner` on the server: the owner of the SOA it answers with (in the answer
// for the apex, in the authority section otherwise).
std::string zone_of(ldns_resolver* r, const std::string& owner, std::string& detail) {
  Rdf name(ldns_dname_new_frm_str(owner.c_str()));
  if (!name) {
    detail = "'" + owner + "' is not a domain name";
    return "";
  }
  ldns_pkt* raw = nullptr;
  const ldns_status st = ldns_resolver_send(&raw, r, name.get(), LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_IN, 0);
  Packet answer(raw);
  if (st != LDNS_STATUS_OK || !answer) {
    detail = "no answer to the SOA query for " + owner + " (" + status_text(st) + ")";
    return "";
  }
  const ServerAnswer a = summarize(answer.get());
  if (!a.noerror && !a.nxdomain) {
    detail = "the SOA query for " + owner + " was answered " + a.rcode;
    return "";
  }
  if (!a.soa_owner.empty()) return a.soa_owner;
  detail = "the server is not authoritative for " + owner + " (no SOA in its answer)";
  return "";
}

}  // namespace

TsigKey parse_tsig_key(std::string_view text) {
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    line = trimmed(line);
    if (line.empty() || line.front() == '#') continue;
    const auto a = line.find(':');
    const auto b = a == std::string::npos ? std::string::npos : line.find(':', a + 1);
    if (b == std::string::npos) throw std::runtime_error("not ALGORITHM:NAME:SECRET");
    TsigKey k{line.substr(0, a), line.substr(a + 1, b - a - 1), line.substr(b + 1)};
    std::transform(k.algorithm.begin(), k.algorithm.end(), k.algorithm.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    static const std::string_view known[] = {"hmac-md5", "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512"};
    if (std::find(std::begin(known), std::end(known), k.algorithm) == std::end(known))
      throw std::runtime_error("unknown algorithm '" + k.algorithm + "' (hmac-sha256, hmac-sha384, hmac-sha512, hmac-sha224, hmac-sha1, hmac-md5)");
    if (k.name.empty() || k.name.size() > 253) throw std::runtime_error("the key name is empty or too long");
    if (Rdf n(ldns_dname_new_frm_str(k.name.c_str())); !n) throw std::runtime_error("the key name '" + k.name + "' is not a domain name");
    if (k.secret.empty() || k.secret.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") != std::string::npos)
      throw std::runtime_error("the secret is not base64 (not shown)");
    if (k.algorithm == "hmac-md5") k.algorithm = "hmac-md5.sig-alg.reg.int";
    return k;
  }
  throw std::runtime_error("no key (expected one line ALGORITHM:NAME:SECRET)");
}

TsigKey read_tsig_key(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read '" + path + "'");
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > 4096) throw std::runtime_error("'" + path + "' is larger than a key file (4 KiB)");
  try {
    return parse_tsig_key(text.str());
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("'" + path + "': " + e.what());
  }
}

Server parse_server(const std::string& text) {
  Server s;
  std::string port;
  if (const auto at = text.find('@'); at != std::string::npos) {
    s.address = text.substr(0, at);
    port = text.substr(at + 1);
  } else if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos || (close + 1 < text.size() && text[close + 1] != ':'))
      throw std::runtime_error("not ADDRESS, ADDRESS:PORT or [IPv6]:PORT");
    s.address = text.substr(1, close - 1);
    if (close + 1 < text.size()) port = text.substr(close + 2);
  } else if (const auto colon = text.find(':'); colon != std::string::npos && colon == text.rfind(':')) {
    s.address = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (port.empty()) throw std::runtime_error("no port after ':'");
  } else {
    s.address = text;
  }
  if (!numeric_family(s.address)) throw std::runtime_error("'" + s.address + "' is not a numeric address");
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) < 1 ||
        std::stoi(port) > 65535)
      throw std::runtime_error("'" + port + "' is not a port of 1 to 65535");
    s.port = static_cast<std::uint16_t>(std::stoi(port));
  }
  return s;
}

Update replace_txt(const Server& server, const TsigKey& key, const std::string& owner_name, const std::string& text,
                   std::uint32_t ttl, std::chrono::milliseconds timeout) {
  Update out;
  const std::string owner = absolute(owner_name);
  try {
    Resolver plain = resolver(server, timeout, nullptr);
    out.zone = zone_of(plain.get(), owner, out.detail);
    if (out.zone.empty()) return out;
    Resolver signing = resolver(server, timeout, &key);
    Rdf zone(ldns_dname_new_frm_str(out.zone.c_str()));
    Rdf name(ldns_dname_new_frm_str(owner.c_str()));
    RrList updates(ldns_rr_list_new());
    // Delete an RRset (RFC 2136 section 2.5.2): class ANY, TTL 0, no data.
    ldns_rr* remove = ldns_rr_new();
    ldns_rr_set_owner(remove, ldns_rdf_clone(name.get()));
    ldns_rr_set_type(remove, LDNS_RR_TYPE_TXT);
    ldns_rr_set_class(remove, LDNS_RR_CLASS_ANY);
    ldns_rr_set_ttl(remove, 0);
    ldns_rr_list_push_rr(updates.get(), remove);
    // Add to an RRset: the record as zone-file text, its string quoted.
    std::string quoted = "\"";
    for (char c : text) {
      if (c == '"' || c == '\\') quoted += '\\';
      quoted += c;
    }
    quoted += '"';
    ldns_rr* add = nullptr;
    const std::string line = owner + " " + std::to_string(ttl) + " IN TXT " + quoted;
    if (ldns_rr_new_frm_str(&add, line.c_str(), 0, nullptr, nullptr) != LDNS_STATUS_OK || !add) {
      out.detail = "cannot make the record " + line;
      return out;
    }
    ldns_rr_list_push_rr(updates.get(), add);
    Packet update(ldns_update_pkt_new(ldns_rdf_clone(zone.get()), LDNS_RR_CLASS_IN, nullptr, updates.get(), nullptr));
    if (!update) {
      out.detail = "cannot make the update message";
      return out;
    }
    ldns_pkt_set_random_id(update.get());
    if (const ldns_status st = ldns_update_pkt_tsig_add(update.get(), signing.get()); st != LDNS_STATUS_OK) {
      out.detail = "cannot sign the update (" + status_text(st) + ")";
      return out;
    }
    ldns_pkt* raw = nullptr;
    const ldns_status st = ldns_resolver_send_pkt(&raw, signing.get(), update.get());
    Packet answer(raw);
    if (!answer && st == LDNS_STATUS_CRYPTO_TSIG_BOGUS) {
      // libldns drops an answer whose signature does not verify. A refusal is such an answer
      // (RFC 8945 section 5.3: BADSIG and BADKEY errors go unsigned), so the same message is sent
      // once more, unchecked, only to read the server's rcode and TSIG error; it is never taken
      // for a success.
      std::unique_ptr<ldns_buffer, Free<ldns_buffer, ldns_buffer_free>> wire(ldns_buffer_new(LDNS_MAX_PACKETLEN));
      ldns_pkt* again = nullptr;
      if (wire && ldns_pkt2buffer_wire(wire.get(), update.get()) == LDNS_STATUS_OK &&
          ldns_send_buffer(&again, signing.get(), wire.get(), nullptr) == LDNS_STATUS_OK && again) {
        Packet unchecked(again);
        const ServerAnswer a = summarize(unchecked.get());
        out.detail = !a.noerror ? "the server refused the update: " + a.rcode + (a.tsig_error.empty() ? "" : " (" + a.tsig_error + ")")
                                : "the answer's TSIG signature does not verify: it is not taken for the server's";
        return out;
      }
      if (again) ldns_pkt_free(again);
    }
    if (!answer) {
      out.detail = "no answer from " + server.address + ":" + std::to_string(server.port) + " (" + status_text(st) + ")";
      return out;
    }
    const ServerAnswer a = summarize(answer.get());
    if (!a.noerror) {
      out.detail = "the server refused the update: " + a.rcode + (a.tsig_error.empty() ? "" : " (" + a.tsig_error + ")");
      return out;
    }
    if (st != LDNS_STATUS_OK) {  // NOERROR, but its signature did not verify: not the server's word
      out.detail = "the answer's TSIG signature does not verify (" + status_text(st) + ")";
      return out;
    }
    out.ok = true;
    out.detail = "accepted by " + server.address + ":" + std::to_string(server.port) + " (zone " + out.zone + ")";
  } catch (const std::runtime_error& e) {
    out.detail = e.what();
  }
  return out;
}

std::optional<std::vector<std::string>> query_txt(const Server& server, const std::string& owner,
                                                  std::chrono::milliseconds timeout) {
  Resolver r = resolver(server, timeout, nullptr);
  Rdf name(ldns_dname_new_frm_str(absolute(owner).c_str()));
  if (!name) return std::nullopt;
  ldns_pkt* raw = nullptr;
  const ldns_status st = ldns_resolver_send(&raw, r.get(), name.get(), LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_IN, 0);
  Packet answer(raw);
  if (st != LDNS_STATUS_OK || !answer) return std::nullopt;
  return summarize(answer.get()).txt;
}

std::optional<ServerAnswer> read_answer(std::string_view wire) {
  ldns_pkt* raw = nullptr;
  const ldns_status st = ldns_wire2pkt(&raw, reinterpret_cast<const std::uint8_t*>(wire.data()), wire.size());
  Packet p(raw);  // freed whatever the status
  if (st != LDNS_STATUS_OK || !p) return std::nullopt;
  return summarize(p.get());
}

}  // namespace tlsrpt::dns
