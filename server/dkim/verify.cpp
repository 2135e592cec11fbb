#include "dkim/verify.hpp"
#include "json/text.hpp"

// dkim.h declares C99 _Bool parameters; in C++ that type is bool.
#define _Bool bool
#include <dkim.h>
#undef _Bool
#include <libpsl.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cctype>
#include <cstring>
#include <ctime>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "pipeline/output.hpp"
#include "report/kebab.hpp"

namespace tlsrpt::dkim {
namespace asio = boost::asio;
namespace {

#define TLSRPT_X(name, desc) inline constexpr report::Kebab result_name_##name{#name};
TLSRPT_DKIM_RESULTS(TLSRPT_X)
#undef TLSRPT_X
#define TLSRPT_X(name, desc) inline constexpr report::Kebab error_name_##name{#name};
TLSRPT_DKIM_ERRORS(TLSRPT_X)
#undef TLSRPT_X

constexpr std::array results{
#define TLSRPT_X(name, desc) NameInfo<Result>{Result::name, result_name_##name.view(), desc},
    TLSRPT_DKIM_RESULTS(TLSRPT_X)
#undef TLSRPT_X
};
constexpr std::array errors{
#define TLSRPT_X(name, desc) NameInfo<Error>{Error::name, error_name_##name.view(), desc},
    TLSRPT_DKIM_ERRORS(TLSRPT_X)
#undef TLSRPT_X
};

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// libopendkim's errors in our closed list.
Error from_sigerror(int e) {
  switch (e) {
    case DKIM_SIGERROR_BADSIG: return Error::bad_signature;
    case DKIM_SIGERROR_EXPIRED: return Error::expired;
    case DKIM_SIGERROR_FUTURE: return Error::future;
    case DKIM_SIGERROR_NOKEY: return Error::no_key;
    case DKIM_SIGERROR_KEYFAIL: return Error::key_lookup_temperror;
    case DKIM_SIGERROR_KEYREVOKED: return Error::key_revoked;
    case DKIM_SIGERROR_NOTEMAILKEY: return Error::key_not_for_email;
    case DKIM_SIGERROR_KEYTOOSMALL: return Error::key_too_small;
    case DKIM_SIGERROR_INVALID_A: return Error::unsupported_algorithm;
    case DKIM_SIGERROR_INVALID_H: return Error::from_not_signed;
    case DKIM_SIGERROR_DNSSYNTAX: case DKIM_SIGERROR_MULTIREPLY: case DKIM_SIGERROR_KEYVERSION:
    case DKIM_SIGERROR_KEYUNKNOWNHASH: case DKIM_SIGERROR_KEYHASHMISMATCH: case DKIM_SIGERROR_KEYTYPEMISSING:
    case DKIM_SIGERROR_KEYTYPEUNKNOWN: case DKIM_SIGERROR_KEYDECODE:
      return Error::key_syntax;
    case DKIM_SIGERROR_VERSION: case DKIM_SIGERROR_DOMAIN: case DKIM_SIGERROR_TIMESTAMPS: case DKIM_SIGERROR_INVALID_HC:
    case DKIM_SIGERROR_INVALID_BC: case DKIM_SIGERROR_MISSING_A: case DKIM_SIGERROR_MISSING_H: case DKIM_SIGERROR_INVALID_L:
    case DKIM_SIGERROR_INVALID_Q: case DKIM_SIGERROR_INVALID_QO: case DKIM_SIGERROR_MISSING_D: case DKIM_SIGERROR_EMPTY_D:
    case DKIM_SIGERROR_MISSING_S: case DKIM_SIGERROR_EMPTY_S: case DKIM_SIGERROR_MISSING_B: case DKIM_SIGERROR_EMPTY_B:
    case DKIM_SIGERROR_CORRUPT_B: case DKIM_SIGERROR_MISSING_BH: case DKIM_SIGERROR_EMPTY_BH: case DKIM_SIGERROR_CORRUPT_BH:
    case DKIM_SIGERROR_SUBDOMAIN: case DKIM_SIGERROR_EMPTY_H: case DKIM_SIGERROR_TOOLARGE_L: case DKIM_SIGERROR_MISSING_V:
    case DKIM_SIGERROR_EMPTY_V:
      return Error::signature_syntax;
    default: return Error::other;
  }
}

// Errors found by checking a signature against its key (as opposed to a signature or key that
// could not be used at all): they make a message fail rather than permerror.
bool checked(Error e) {
  switch (e) {
    case Error::bad_signature: case Error::body_hash_mismatch: case Error::expired: case Error::future:
    case Error::body_length_limit: case Error::key_too_small: case Error::not_aligned:
      return true;
    default: return false;
  }
}

// A key record answer, from DNS or the cache.
struct Key {
  enum Kind { found, missing, temporary } kind = temporary;
  std::string record;
  bool secure = false;
};

// What the key lookup callback learnt about each signature of one message.
struct SigNotes {
  bool temporary = false, missing = false, secure = false, tlsrpt = false, ignored = false, too_large = false;
};

// The value of tag `name` in a tag list (a DKIM-Signature or key record; RFC 6376 3.2), trimmed;
// nullopt when absent.
std::optional<std::string_view> tag_value(std::string_view list, std::string_view name) {
  std::size_t start = 0;
  while (start <= list.size()) {
    auto end = list.find(';', start);
    if (end == std::string_view::npos) end = list.size();
    const std::string_view tag = list.substr(start, end - start);
    if (const auto eq = tag.find('='); eq != std::string_view::npos && trim(tag.substr(0, eq)) == name)
      return trim(tag.substr(eq + 1));
    start = end + 1;
  }
  return std::nullopt;
}

// A key record with only the tags libopendkim reads (v, h, k, p, s, t), without folding
// whitespace inside them: what fits its fixed 1,024-byte buffer when notes (n=) or spacing made
// the published record longer.
std::string compact_key_record(std::string_view record) {
  std::string out;
  for (const char* name : {"v", "h", "k", "p", "s", "t"})
    if (const auto v = tag_value(record, name)) {
      if (!out.empty()) out += ';';
      out += name;
      out += '=';
      for (char c : *v)
        if (!std::isspace(static_cast<unsigned char>(c))) out += c;
    }
  return out;
}

}  // namespace

std::span<const NameInfo<Result>> all_results() { return results; }
std::span<const NameInfo<Error>> all_errors() { return errors; }
std::string_view to_string(Result r) { return results[static_cast<std::size_t>(r)].name; }
std::string_view to_string(Error e) { return errors[static_cast<std::size_t>(e)].name; }
std::string_view to_string(Alignment a) {
  switch (a) {
    case Alignment::exact: return "exact";
    case Alignment::organizational: return "organizational";
    case Alignment::none: break;
  }
  return "none";
}

const Signature* Verdict::used() const {
  for (const auto& s : signatures)
    if (!s.error) return &s;
  return signatures.empty() ? nullptr : &signatures.front();
}

std::string Verdict::to_json() const {
  std::string out;
  json::Writer w(out, false, json::Input::bytes);
  auto bits = [&w](int key_bits) {
    w.key("key_bits");
    if (key_bits) w.value(static_cast<std::int64_t>(key_bits));
    else w.null();
  };
  const Signature* u = used();
  w.begin_object();
  w.field("result", to_string(result));
  w.optional_field("from_domain", from_domain);
  if (u) {
    w.field("domain", u->domain);
    w.field("selector", u->selector);
    bits(u->key_bits);
    w.field("alignment", to_string(u->alignment));
  } else {
    for (const char* k : {"domain", "selector", "key_bits", "alignment"}) {
      w.key(k);
      w.null();
    }
  }
  w.optional_field("authserv_id", authserv_id);
  w.optional_field("authserv_domain", authserv_domain);
  w.key("signatures");
  w.begin_array();
  for (const Signature& sig : signatures) {
    w.begin_object();
    w.field("domain", sig.domain);
    w.field("selector", sig.selector);
    bits(sig.key_bits);
    w.key("key_secure");
    w.boolean(sig.key_secure);
    w.key("key_tlsrpt");
    w.boolean(sig.key_tlsrpt);
    w.field("alignment", to_string(sig.alignment));
    w.key("error");
    if (sig.error) w.value(to_string(*sig.error));
    else w.null();
    w.end_object();
  }
  w.end_array();
  w.end_object();
  return out;
}

std::optional<std::string> accept_tlsrpt_service(std::string_view record) {
  if (record.size() > 65536) return std::nullopt;
  std::string out;
  bool changed = false;
  std::size_t start = 0;
  while (start <= record.size()) {
    auto end = record.find(';', start);
    if (end == std::string_view::npos) end = record.size();
    std::string_view tag = record.substr(start, end - start);
    const auto eq = tag.find('=');
    if (eq != std::string_view::npos && trim(tag.substr(0, eq)) == "s") {
      std::string_view services = tag.substr(eq + 1);
      bool tlsrpt = false;
      std::size_t b = 0;
      while (b <= services.size()) {
        auto e = services.find(':', b);
        if (e == std::string_view::npos) e = services.size();
        if (lower(trim(services.substr(b, e - b))) == "tlsrpt") tlsrpt = true;
        b = e + 1;
      }
      if (tlsrpt) {
        tag = "s=email";
        changed = true;
      }
    }
    if (!out.empty() || start > 0) out += ';';
    out += tag;
    start = end + 1;
  }
  if (!changed) return std::nullopt;
  return out;
}

namespace {

// A message's header section as its fields (each with its folded lines and their line breaks,
// without the final one) and the body after the empty line. A line that starts with a space or a
// tab before any field, or that has no colon, is not a field and is left out.
struct Split {
  std::vector<std::string_view> fields;
  std::string_view body;
};
Split split_message(std::string_view message) {
  Split out;
  std::size_t pos = 0;
  while (pos < message.size()) {
    const auto eol = message.find('\n', pos);
    const std::size_t next = eol == std::string_view::npos ? message.size() : eol + 1;
    std::string_view line = message.substr(pos, next - pos);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
    if (line.empty()) {  // the end of the header section
      out.body = message.substr(next);
      return out;
    }
    if (line.front() == ' ' || line.front() == '\t') {  // a folded line continues the field before it
      if (!out.fields.empty()) {
        const char* start = out.fields.back().data();
        out.fields.back() = std::string_view(start, static_cast<std::size_t>(line.data() + line.size() - start));
      }
    } else if (line.find(':') != std::string_view::npos) {
      out.fields.push_back(line);
    }
    pos = next;
  }
  return out;
}

// The fields of a split header named `name` (lower case, with the colon), top first, unfolded.
std::vector<std::string> header_fields(const Split& parts, std::string_view name) {
  std::vector<std::string> out;
  for (std::string_view f : parts.fields) {
    if (f.size() < name.size() || lower(f.substr(0, name.size())) != name) continue;
    std::string field;
    for (char c : f.substr(name.size())) field += c == '\r' || c == '\n' ? ' ' : c;
    out.push_back(std::move(field));
  }
  return out;
}

// The same from a message; at most 256 KiB of it is read.
std::vector<std::string> header_fields(std::string_view message, std::string_view name) {
  return header_fields(split_message(message.substr(0, std::min<std::size_t>(message.size(), 256 * 1024))), name);
}

// The d= (lower case) and s= of each DKIM-Signature field, top first.
std::vector<std::pair<std::string, std::string>> signature_names(const Split& parts) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& value : header_fields(parts, "dkim-signature:"))
    out.emplace_back(lower(tag_value(value, "d").value_or("")), std::string(tag_value(value, "s").value_or("")));
  return out;
}

// The most field names any h= tag of a DKIM-Signature value lists (colons + 1; every h= tag of
// it, should there be several).
std::size_t signed_names(std::string_view value) {
  std::size_t most = 0, start = 0;
  while (start <= value.size()) {
    auto end = value.find(';', start);
    if (end == std::string_view::npos) end = value.size();
    const std::string_view tag = value.substr(start, end - start);
    if (const auto eq = tag.find('='); eq != std::string_view::npos && trim(tag.substr(0, eq)) == "h")
      most = std::max<std::size_t>(most, static_cast<std::size_t>(std::count(tag.begin(), tag.end(), ':')) + 1);
    start = end + 1;
  }
  return most;
}

// Whether the header section holds a NUL byte (such a message is not handed to libopendkim).
bool header_has_nul(std::string_view message, const Split& parts) {
  const std::size_t header_size =
      parts.body.data() ? static_cast<std::size_t>(parts.body.data() - message.data()) : message.size();
  return message.substr(0, header_size).find('\0') != std::string_view::npos;
}

// RFC 8601 text without its comments (nested parentheses, with quoted pairs).
std::string without_comments(std::string_view text) {
  std::string out;
  int depth = 0;
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\\' && i + 1 < text.size()) {
      if (depth == 0) out += text.substr(i, 2);
      ++i;
      continue;
    }
    if (!quoted && c == '(') ++depth;
    else if (!quoted && c == ')' && depth > 0) --depth;
    else if (depth == 0) {
      if (c == '"') quoted = !quoted;
      out += c;
    }
  }
  return out;
}

}  // namespace

std::optional<TrustedResult> trusted_authentication_results(std::string_view message, const std::vector<std::string>& ids) {
  if (ids.empty()) return std::nullopt;
  for (const std::string& field : header_fields(message, "authentication-results:")) {
    const std::string text = without_comments(field);
    std::vector<std::string_view> parts;  // split at ';'
    std::string_view rest = text;
    while (true) {
      const auto semi = rest.find(';');
      parts.push_back(trim(rest.substr(0, semi)));
      if (semi == std::string_view::npos) break;
      rest = rest.substr(semi + 1);
    }
    std::string_view id = parts.front();
    id = id.substr(0, id.find_first_of(" \t"));  // an optional version follows
    if (id.size() >= 2 && id.front() == '"' && id.back() == '"') id = id.substr(1, id.size() - 2);
    bool trusted = false;
    for (const auto& t : ids) trusted |= lower(t) == lower(id);
    if (!trusted) continue;
    TrustedResult out{std::string(id), false, {}};
    for (std::size_t i = 1; i < parts.size(); ++i) {
      std::string_view p = parts[i];
      std::vector<std::string_view> words;
      while (!p.empty()) {
        const auto b = p.find_first_not_of(" \t");
        if (b == std::string_view::npos) break;
        p = p.substr(b);
        const auto e = p.find_first_of(" \t");
        words.push_back(p.substr(0, e));
        p = e == std::string_view::npos ? std::string_view() : p.substr(e);
      }
      if (words.empty() || lower(words.front()) != "dkim=pass") continue;
      for (std::size_t w = 1; w < words.size(); ++w) {
        const std::string word = lower(words[w]);
        if (!word.starts_with("header.d=") && !word.starts_with("header.i=")) continue;
        std::string value = word.substr(9);
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
        if (word[7] == 'i') value = value.substr(value.find('@') == std::string::npos ? 0 : value.find('@') + 1);
        if (!value.empty()) {
          out.pass = true;
          out.domain = value;
          return out;
        }
      }
    }
    return out;  // the topmost trusted header decides, pass or not
  }
  return std::nullopt;
}

std::optional<std::int64_t> arrival_from_received(std::string_view message, std::int64_t now) {
  const auto fields = header_fields(message, "received:");
  if (fields.empty()) return std::nullopt;
  const std::string& field = fields.front();
  const auto semi = field.rfind(';');
  if (semi == std::string::npos) return std::nullopt;
  std::string date(trim(std::string_view(field).substr(semi + 1)));
  if (const auto paren = date.find('('); paren != std::string::npos) date = std::string(trim(date.substr(0, paren)));
  for (const char* zone : {" GMT", " UTC", " UT"})
    if (date.size() > std::strlen(zone) && date.compare(date.size() - std::strlen(zone), std::string::npos, zone) == 0) {
      date.replace(date.size() - std::strlen(zone), std::string::npos, " +0000");
      break;
    }
  for (const char* format : {"%a, %d %b %Y %H:%M:%S %z", "%d %b %Y %H:%M:%S %z", "%a, %d %b %Y %H:%M %z", "%d %b %Y %H:%M %z"}) {
    std::tm tm{};
    const char* end = strptime(date.c_str(), format, &tm);
    if (!end || *end != '\0') continue;
    const long offset = tm.tm_gmtoff;  // timegm() resets it
    const std::int64_t when = static_cast<std::int64_t>(timegm(&tm)) - offset;
    if (when > now + 86400 || when < 0) return std::nullopt;
    return when;
  }
  return std::nullopt;
}

struct Verifier::Impl {
  Settings settings;
  DKIM_LIB* lib = nullptr;
  const psl_ctx_t* psl = nullptr;
  psl_ctx_t* psl_loaded = nullptr;  // psl_latest()'s own copy, freed with the verifier
  ~Impl() { psl_free(psl_loaded); }
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  std::unique_ptr<dns::Resolver> resolver;
  std::thread thread;

  std::mutex cache_mutex;
  struct Cached {
    Key key;
    std::chrono::steady_clock::time_point expires;
  };
  std::map<std::string, Cached> cache;
  // Organisational domains (public suffix list) whose key lookup got no answer in time, until
  // when their other lookups fail at once instead of asking again: a domain whose servers never
  // answer costs one wait per 30 s, however many selectors its mail names, and its timeouts
  // cannot pile up in the resolver's record of dns.server and take other domains' lookups down.
  std::map<std::string, std::chrono::steady_clock::time_point> silent;
  std::atomic<std::uint64_t> lookups{0}, cached{0}, temperrors{0}, silenced{0};

  // One message under verification (libopendkim's user context).
  struct Message {
    Impl* impl;
    std::chrono::steady_clock::time_point deadline;
    std::map<const DKIM_SIGINFO*, SigNotes> notes;
  };

  // The key of `name` when the cache or a silenced organisation answers for it.
  // (`count`: in the statistics; a prefetch's look at the cache is not a lookup)
  std::optional<Key> known(const std::string& name, const std::string& organization,
                           std::chrono::steady_clock::time_point now, bool count = true) {
    std::lock_guard lock(cache_mutex);
    if (auto it = cache.find(name); it != cache.end()) {
      if (it->second.expires > now) {
        if (count) ++cached;
        return it->second.key;
      }
      cache.erase(it);
    }
    if (auto it = silent.find(organization); it != silent.end()) {
      if (it->second > now) {
        if (count) {
          ++temperrors;
          ++silenced;
        }
        return Key{};  // temporary
      }
      silent.erase(it);
    }
    return std::nullopt;
  }

  // No answer in time: a temperror, remembered, and the organisation silenced.
  Key timed_out(const std::string& name, const std::string& organization, std::chrono::steady_clock::time_point now) {
    ++temperrors;
    remember(name, Key{}, now + std::chrono::seconds(30));
    silence(organization, now + std::chrono::seconds(30));
    return Key{};
  }

  // The key an answer gives, remembered (answers for Settings::key_cache, failures for 30 s).
  Key answered(const std::string& name, const std::string& organization, const dns::Answer& a,
               std::chrono::steady_clock::time_point now) {
    Key key;
    key.secure = a.secure;
    switch (a.outcome) {
      case dns::Outcome::answer:
        for (const auto& rdata : a.rdata)
          if (auto text = dns::txt_text(rdata); text && text->find("p=") != std::string::npos) {
            key.kind = Key::found;
            key.record = *text;
            break;
          }
        if (key.kind != Key::found) key.kind = Key::missing;
        break;
      case dns::Outcome::nodata:
      case dns::Outcome::nxdomain: key.kind = Key::missing; break;
      case dns::Outcome::timeout: return timed_out(name, organization, now);
      default:  // bogus, servfail, error: nothing trustworthy for now
        ++temperrors;
        remember(name, key, now + std::chrono::seconds(30));
        return key;
    }
    remember(name, key, now + settings.key_cache);
    return key;
  }

  Key lookup(const std::string& name, const std::string& organization, std::chrono::steady_clock::time_point deadline) {
    const auto now = std::chrono::steady_clock::now();
    if (auto key = known(name, organization, now)) return *key;
    ++lookups;
    auto promise = std::make_shared<std::promise<dns::Answer>>();
    auto answer = promise->get_future();
    asio::post(io, [this, name, promise] {
      resolver->resolve(name, dns::Type::txt, [promise](dns::Answer a) { promise->set_value(std::move(a)); });
    });
    // (the resolver answers the promise later when the deadline passes first)
    if (answer.wait_until(deadline) != std::future_status::ready) return timed_out(name, organization, now);
    return answered(name, organization, answer.get(), now);
  }

  // Prefetches under way (verifier thread only): ended by the destructor.
  struct Prefetch {
    std::function<void()> done;
    std::vector<std::pair<std::string, std::string>> names;  // key name, organisation
    std::vector<bool> answered;
    bool finished = false;
    std::unique_ptr<asio::steady_timer> timer;
  };
  std::set<std::shared_ptr<Prefetch>> prefetching;

  void finish(const std::shared_ptr<Prefetch>& p) {
    if (p->finished) return;
    p->finished = true;
    p->timer->cancel();
    prefetching.erase(p);
    const auto now = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < p->names.size(); ++i)
      if (!p->answered[i]) timed_out(p->names[i].first, p->names[i].second, now);
    p->done();
  }

  // The organisational domain of a signing domain (the domain itself when the list has none).
  std::string organization_of(const std::string& domain) const {
    const char* org = psl_registrable_domain(psl, domain.c_str());
    return org ? org : domain;
  }

  // A failure is remembered for 30 s (a backfill of many messages signed with one unreachable
  // key waits once, not once per message); answers for Settings::key_cache.
  void remember(const std::string& name, const Key& key, std::chrono::steady_clock::time_point expires) {
    std::lock_guard lock(cache_mutex);
    if (cache.size() >= 10000) cache.clear();
    cache[name] = Cached{key, expires};
  }

  void silence(const std::string& organization, std::chrono::steady_clock::time_point until) {
    std::lock_guard lock(cache_mutex);
    if (silent.size() >= 10000) silent.clear();
    silent[organization] = until;
  }

  static DKIM_CBSTAT key_lookup(DKIM* dkim, DKIM_SIGINFO* sig, u_char* buf, size_t buflen) {
    auto* m = static_cast<Message*>(dkim_get_user_context(dkim));
    const auto* d = reinterpret_cast<const char*>(dkim_sig_getdomain(sig));
    const auto* s = reinterpret_cast<const char*>(dkim_sig_getselector(sig));
    SigNotes& notes = m->notes[sig];
    if (!d || !s || std::strlen(d) + std::strlen(s) > 240) {
      notes.missing = true;
      return DKIM_CBSTAT_NOTFOUND;
    }
    const std::string domain = lower(d);
    const Key key = m->impl->lookup(std::string(s) + "._domainkey." + domain, m->impl->organization_of(domain), m->deadline);
    if (key.kind == Key::temporary) {
      notes.temporary = true;
      return DKIM_CBSTAT_NOTFOUND;  // libopendkim goes on with the other signatures
    }
    if (key.kind == Key::missing) {
      notes.missing = true;
      return DKIM_CBSTAT_NOTFOUND;
    }
    std::string record = key.record;
    if (auto accepted = accept_tlsrpt_service(record)) {
      record = std::move(*accepted);
      notes.tlsrpt = true;
    }
    notes.secure = key.secure;
    if (record.size() + 1 > buflen) record = compact_key_record(record);
    if (record.size() + 1 > buflen) {  // judged on its own; the other signatures go on
      notes.too_large = true;
      return DKIM_CBSTAT_NOTFOUND;
    }
    std::memcpy(buf, record.data(), record.size());
    buf[record.size()] = '\0';
    return DKIM_CBSTAT_CONTINUE;
  }

  static DKIM_CBSTAT prescreen(DKIM* dkim, DKIM_SIGINFO** sigs, int nsigs) {
    auto* m = static_cast<Message*>(dkim_get_user_context(dkim));
    for (int i = m->impl->settings.max_signatures; i < nsigs; ++i) {
      dkim_sig_ignore(sigs[i]);
      m->notes[sigs[i]].ignored = true;
    }
    return DKIM_CBSTAT_CONTINUE;
  }

  Alignment align(const std::string& from, const std::string& d) const {
    if (from.empty() || d.empty()) return Alignment::none;
    if (from == d) return Alignment::exact;
    const char* a = psl_registrable_domain(psl, from.c_str());
    const char* b = psl_registrable_domain(psl, d.c_str());
    if (a && b && std::strcmp(a, b) == 0) return Alignment::organizational;
    return Alignment::none;
  }
};

Verifier::Verifier(Settings settings) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.settings = std::move(settings);
  m.psl_loaded = psl_latest(nullptr);  // the newest of the system's list and the built-in one
  m.psl = m.psl_loaded ? m.psl_loaded : psl_builtin();
  if (!m.psl) throw std::runtime_error("dkim: no public suffix list (libpsl)");
  m.lib = dkim_init(nullptr, nullptr);
  if (!m.lib) throw std::runtime_error("dkim: libopendkim could not start");
  unsigned int flags = DKIM_LIBFLAGS_FIXCRLF;
  // Expiry and t= are judged here against the arrival time; libopendkim judges them against
  // the clock, so its allowance is set beyond any real signature's lifetime.
  // Not more than real t= values: libopendkim subtracts it from t= in unsigned arithmetic.
  std::uint64_t drift = 1000000000;
  unsigned int min_bits = 1024;
  if (dkim_options(m.lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof flags) != DKIM_STAT_OK ||
      dkim_options(m.lib, DKIM_OP_SETOPT, DKIM_OPTS_CLOCKDRIFT, &drift, sizeof drift) != DKIM_STAT_OK ||
      dkim_options(m.lib, DKIM_OP_SETOPT, DKIM_OPTS_MINKEYBITS, &min_bits, sizeof min_bits) != DKIM_STAT_OK ||
      dkim_set_key_lookup(m.lib, &Impl::key_lookup) != DKIM_STAT_OK ||
      dkim_set_prescreen(m.lib, &Impl::prescreen) != DKIM_STAT_OK) {
    dkim_close(m.lib);
    throw std::runtime_error("dkim: libopendkim refused an option");
  }
  try {
    m.resolver = std::make_unique<dns::Resolver>(m.io, m.settings.dns);
  } catch (...) {
    dkim_close(m.lib);
    throw;
  }
  m.thread = std::thread([&io = m.io] { io.run(); });
}

Verifier::~Verifier() {
  asio::post(impl_->io, [this] {  // on its thread, then the thread ends
    for (const auto& p : impl_->prefetching) {  // their callers are told nothing more
      p->finished = true;
      p->timer->cancel();
    }
    impl_->prefetching.clear();
    impl_->resolver.reset();
  });
  impl_->work.reset();
  impl_->thread.join();
  dkim_close(impl_->lib);
}

void Verifier::prefetch(std::string_view message, std::function<void()> done) {
  Impl& m = *impl_;
  const auto now = std::chrono::steady_clock::now();
  const std::string_view head = message.substr(0, std::min<std::size_t>(message.size(), 256 * 1024));
  const Split parts = split_message(head);
  auto p = std::make_shared<Impl::Prefetch>();
  p->done = std::move(done);
  if (!header_has_nul(head, parts)) {
    std::size_t n = 0;
    for (const auto& [domain, selector] : signature_names(parts)) {
      if (n++ >= static_cast<std::size_t>(m.settings.max_signatures)) break;
      if (domain.empty() || selector.empty() || domain.size() + selector.size() > 240) continue;
      std::string name = selector + "._domainkey." + domain;
      std::string organization = m.organization_of(domain);
      if (m.known(name, organization, now, false)) continue;
      p->names.emplace_back(std::move(name), std::move(organization));
    }
  }
  if (p->names.empty()) {
    p->done();
    return;
  }
  p->answered.assign(p->names.size(), false);
  asio::post(m.io, [&m, p] {
    if (!m.resolver) return;  // the verifier is closing
    m.prefetching.insert(p);
    p->timer = std::make_unique<asio::steady_timer>(m.io, m.settings.deadline);
    p->timer->async_wait([&m, p](boost::system::error_code ec) {
      if (!ec) m.finish(p);
    });
    for (std::size_t i = 0; i < p->names.size(); ++i) {
      ++m.lookups;
      m.resolver->resolve(p->names[i].first, dns::Type::txt, [&m, p, i](dns::Answer a) {
        m.answered(p->names[i].first, p->names[i].second, a, std::chrono::steady_clock::now());
        p->answered[i] = true;
        if (std::find(p->answered.begin(), p->answered.end(), false) == p->answered.end()) m.finish(p);
      });
    }
  });
}

Verifier::Stats Verifier::stats() const {
  return {impl_->lookups.load(), impl_->cached.load(), impl_->temperrors.load(), impl_->silenced.load()};
}

Verdict Verifier::verify(std::string_view message, std::int64_t arrival) {
  Impl& m = *impl_;
  Impl::Message ctx{&m, std::chrono::steady_clock::now() + m.settings.deadline, {}};
  Verdict v;
  DKIM_STAT status = DKIM_STAT_OK;
  DKIM* dkim = dkim_verify(m.lib, reinterpret_cast<const u_char*>("tlsrpt"), nullptr, &status);
  if (!dkim) throw std::runtime_error("dkim: libopendkim could not verify (out of memory)");
  struct Free {
    DKIM* d;
    ~Free() { dkim_free(d); }
  } release{dkim};
  dkim_set_user_context(dkim, &ctx);
  const Split parts = split_message(message);
  // libopendkim keeps header fields as C strings beside their lengths: a NUL inside one made it
  // read past its copy (found by fuzz_dkim). RFC 5322 allows no NUL in a header, so such a
  // message is judged here: each signature a permerror, the message stored as usual.
  //
  // libopendkim's header selection (dkim_canon_selecthdrs) keeps one pointer per header field and
  // writes one past them when a signature's h= names more fields than the header has and they
  // are all used up (valgrind: an invalid write of 8 bytes on the heap; fuzz_dkim: a bad free
  // under ASan). Naming a field more often than it occurs is legitimate (oversigning), so such a
  // header gets pad fields that no h= names, enough for the array to hold every name; beyond 64
  // of them (no signer oversigns that much, and each pad costs a pass over every name) the
  // message is judged here instead.
  std::size_t names = 0;
  for (const std::string& value : header_fields(parts, "dkim-signature:")) names = std::max(names, signed_names(value));
  // (a field without a colon is not counted as one libopendkim keeps)
  const auto fields = static_cast<std::size_t>(std::count_if(
      parts.fields.begin(), parts.fields.end(), [](std::string_view f) { return f.find(':') != std::string_view::npos; }));
  const std::size_t pads = names > fields ? names - fields : 0;
  const bool nul = header_has_nul(message, parts);
  if (nul || pads > 64) {
    for (auto& [domain, selector] : signature_names(parts)) {
      Signature s;
      s.domain = std::move(domain);
      s.selector = std::move(selector);
      s.error = nul ? Error::header_not_verifiable : Error::too_many_signed_fields;
      v.signatures.push_back(std::move(s));
    }
    v.result = v.signatures.empty() ? Result::none : Result::permerror;
    return v;
  }
  // Field by field, not through dkim_chunk(): that asserts (aborting the process) on a message
  // that starts with an empty line (found by fuzz_dkim). libopendkim copies what it needs; the
  // bytes are not changed.
  auto bytes = [](std::string_view text) { return reinterpret_cast<u_char*>(const_cast<char*>(text.data())); };
  for (std::string_view field : parts.fields) {
    status = dkim_header(dkim, bytes(field), field.size());
    if (status != DKIM_STAT_OK) break;
  }
  static constexpr std::string_view pad = "X-Tlsrpt-Pad: libopendkim's array of fields must hold every name of h=";
  for (std::size_t i = 0; status == DKIM_STAT_OK && i < pads; ++i) status = dkim_header(dkim, bytes(pad), pad.size());
  if (status == DKIM_STAT_OK) status = dkim_eoh(dkim);
  if (status == DKIM_STAT_OK && !parts.body.empty()) status = dkim_body(dkim, bytes(parts.body), parts.body.size());
  if (status == DKIM_STAT_OK) status = dkim_eom(dkim, nullptr);
  if (const u_char* from = dkim_getdomain(dkim)) v.from_domain = lower(reinterpret_cast<const char*>(from));
  if (!v.from_domain.empty())
    if (const char* org = psl_registrable_domain(m.psl, v.from_domain.c_str())) v.from_organization = org;
  DKIM_SIGINFO** sigs = nullptr;
  int nsigs = 0;
  if (dkim_getsiglist(dkim, &sigs, &nsigs) != DKIM_STAT_OK) nsigs = 0;
  bool any_pass = false, any_temp = false, any_checked = false;
  for (int i = 0; i < nsigs; ++i) {
    DKIM_SIGINFO* sig = sigs[i];
    const SigNotes notes = ctx.notes.count(sig) ? ctx.notes[sig] : SigNotes{};
    Signature s;
    if (const u_char* d = dkim_sig_getdomain(sig)) s.domain = lower(reinterpret_cast<const char*>(d));
    if (const u_char* sel = dkim_sig_getselector(sig)) s.selector = reinterpret_cast<const char*>(sel);
    s.key_secure = notes.secure;
    s.key_tlsrpt = notes.tlsrpt;
    const unsigned int flags = dkim_sig_getflags(sig);
    unsigned int bits = 0;
    if (dkim_sig_getkeysize(sig, &bits) == DKIM_STAT_OK) s.key_bits = static_cast<int>(bits);
    s.alignment = m.align(v.from_domain, s.domain);
    const int error = dkim_sig_geterror(sig);
    if (notes.ignored) s.error = Error::too_many_signatures;
    else if (notes.too_large) s.error = Error::key_too_large;
    else if (notes.temporary) s.error = Error::key_lookup_temperror;
    else if (notes.missing) s.error = Error::no_key;
    // The headers verified but the body changed (libopendkim may call that a bad signature too).
    else if ((flags & DKIM_SIGFLAG_PASSED) && dkim_sig_getbh(sig) == DKIM_SIGBH_MISMATCH) s.error = Error::body_hash_mismatch;
    else if (error != DKIM_SIGERROR_OK && error != DKIM_SIGERROR_UNKNOWN) s.error = from_sigerror(error);
    else if (!(flags & DKIM_SIGFLAG_PROCESSED)) s.error = status == DKIM_STAT_CBTRYAGAIN ? Error::key_lookup_temperror : Error::other;
    else if (!(flags & DKIM_SIGFLAG_PASSED)) s.error = Error::bad_signature;
    else if (dkim_sig_getbh(sig) != DKIM_SIGBH_MATCH) s.error = Error::body_hash_mismatch;
    else if (dkim_sig_gettagvalue(sig, false, reinterpret_cast<u_char*>(const_cast<char*>("l")))) s.error = Error::body_length_limit;
    else if (s.key_bits < 1024) s.error = Error::key_too_small;
    else {
      const u_char* x = dkim_sig_gettagvalue(sig, false, reinterpret_cast<u_char*>(const_cast<char*>("x")));
      std::uint64_t t = 0;
      const auto skew = static_cast<std::int64_t>(m.settings.clock_skew.count());
      if (x && std::strtoll(reinterpret_cast<const char*>(x), nullptr, 10) + skew < arrival) s.error = Error::expired;
      else if (dkim_sig_getsigntime(sig, &t) == DKIM_STAT_OK && static_cast<std::int64_t>(t) > arrival + skew)
        s.error = Error::future;
      else if (s.alignment == Alignment::none) s.error = Error::not_aligned;
    }
    if (!s.error) any_pass = true;
    else if (*s.error == Error::key_lookup_temperror) any_temp = true;
    else if (checked(*s.error)) any_checked = true;
    v.signatures.push_back(std::move(s));
  }
  v.result = v.signatures.empty() ? Result::none
             : any_pass           ? Result::pass
             : any_temp           ? Result::temperror
             : any_checked        ? Result::fail
                                  : Result::permerror;
  if (v.result != Result::pass)
    if (const auto t = trusted_authentication_results(message, m.settings.trusted_authserv_ids);
        t && t->pass && m.align(v.from_domain, t->domain) != Alignment::none) {
      v.result = Result::pass;
      v.authserv_id = t->authserv_id;
      v.authserv_domain = t->domain;
    }
  return v;
}

}  // namespace tlsrpt::dkim
