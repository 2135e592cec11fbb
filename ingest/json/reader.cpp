#include "json/reader.hpp"

#include <simdjson.h>

#include <cmath>
#include <cstring>

#include "unpack/unpack.hpp"

namespace tlsrpt::json {
namespace {

static_assert(unpack::json_padding >= simdjson::SIMDJSON_PADDING);

using namespace simdjson;
using report::Quirk;
using report::Reason;
using report::Rejection;

// A path such as policies[0].failure-details[3].result-type, built only when an error is reported.
struct Path {
  const Path* parent = nullptr;
  std::string_view key;
  long index = -1;
  std::string str() const {
    std::string s = parent ? parent->str() : std::string();
    if (index >= 0) return s + "[" + std::to_string(index) + "]";
    return s.empty() ? std::string(key) : s + "." + std::string(key);
  }
};

const char* type_name(dom::element_type t) {
  switch (t) {
    case dom::element_type::ARRAY: return "an array";
    case dom::element_type::OBJECT: return "an object";
    case dom::element_type::INT64:
    case dom::element_type::UINT64: return "an integer";
    case dom::element_type::DOUBLE: return "a number";
    case dom::element_type::STRING: return "a string";
    case dom::element_type::BOOL: return "a boolean";
    case dom::element_type::NULL_VALUE: return "null";
  }
  return "a value";
}

class Reader {
 public:
  // `may_hold_nul`: the text has a \u0000 escape; the only way a JSON string can hold U+0000.
  Reader(const report::Limits& limits, report::Report& out, bool may_hold_nul)
      : limits_(limits), out_(out), may_hold_nul_(may_hold_nul) {}

  std::optional<Rejection> top(dom::element root) {
    if (root.type() != dom::element_type::OBJECT)
      return Rejection{Reason::not_an_object, std::string("the top level is ") + type_name(root.type())};
    enum : unsigned { org, range, contact, id, pols };
    static constexpr std::array<Key, 5> keys{{{"organization-name", org}, {"date-range", range},
                                              {"contact-info", contact}, {"report-id", id}, {"policies", pols}}};
    unsigned seen = 0;
    const Path root_path{};
    auto r = object(root, root_path, keys, 1u << org | 1u << range | 1u << id | 1u << pols,
                    [this](unsigned slot, std::string_view, dom::element value, const Path& kp) -> std::optional<Rejection> {
                      switch (slot) {
                        case org: return string(value, kp, out_.organization_name, true);
                        case range: return date_range(value, kp);
                        case contact:
                          if (value.is_null()) {
                            quirk(Quirk::contact_info_null);
                            return std::nullopt;
                          }
                          return string(value, kp, out_.contact_info.emplace());
                        case id: return string(value, kp, out_.report_id, true);
                        default: return policies(value, kp);
                      }
                    },
                    &seen);
    if (!r && !(seen >> contact & 1u)) quirk(Quirk::contact_info_missing);
    return r;
  }

 private:
  void quirk(Quirk q) { out_.quirks.add(q); }

  // Marks a key as seen; a repeated key is a quirk and its later values are ignored.
  bool once(unsigned& seen, unsigned bit) {
    if (seen & bit) {
      quirk(Quirk::duplicate_key);
      return false;
    }
    seen |= bit;
    return true;
  }

  static Rejection missing(std::string what) { return Rejection{Reason::missing_field, std::move(what)}; }

  // A key of an object and the slot its value goes to (spelling variants share a slot).
  struct Key {
    std::string_view name;
    unsigned slot;
  };

  // Reads an object: each known key's value goes to `handle(slot, key, value, path)`, unknown
  // keys are a quirk, a repeated slot keeps its first value, and a slot in `required` (a bit
  // mask) that never came is a missing field named by its first key.
  template <std::size_t N, class Handle>
  std::optional<Rejection> object(dom::element v, const Path& p, const std::array<Key, N>& keys, unsigned required,
                                  Handle&& handle, unsigned* seen_out = nullptr) {
    dom::object obj;
    if (v.get_object().get(obj)) return wrong(p, v, "an object");
    unsigned seen = 0;
    for (auto [key, value] : obj) {
      const Key* k = nullptr;
      for (const auto& candidate : keys)
        if (candidate.name == key) {
          k = &candidate;
          break;
        }
      if (!k) {
        quirk(Quirk::unknown_key);
        continue;
      }
      if (!once(seen, 1u << k->slot)) continue;
      const Path kp{&p, key};
      if (auto r = handle(k->slot, key, value, kp)) return r;
    }
    for (const auto& k : keys)
      if ((required >> k.slot & 1u) && !(seen >> k.slot & 1u)) {
        const std::string where = p.str();
        return missing(where.empty() ? std::string(k.name) : where + "." + std::string(k.name));
      }
    if (seen_out) *seen_out = seen;
    return std::nullopt;
  }
  static Rejection wrong(const Path& p, dom::element v, const char* expected) {
    return Rejection{Reason::wrong_type,
                     p.str() + ": expected " + expected + ", got " + type_name(v.type())};
  }

  // A string value, checked; the view lives in the parser's buffer until the next parse.
  std::optional<Rejection> text(dom::element v, const Path& p, std::string_view& sv, bool non_empty) {
    if (v.get_string().get(sv)) return wrong(p, v, "a string");
    if (sv.size() > limits_.string_length)
      return Rejection{Reason::string_too_long,
                       p.str() + ": " + std::to_string(sv.size()) + " bytes (limit " +
                           std::to_string(limits_.string_length) + ")"};
    if (non_empty && sv.find_first_not_of(" \t\r\n") == std::string_view::npos)
      return Rejection{Reason::invalid_value, p.str() + ": empty"};
    return std::nullopt;
  }

  // PostgreSQL text cannot hold NUL: a string with U+0000 gets U+FFFD in its place.
  template <class Store>
  void store(std::string_view sv, Store&& put) {
    if (!may_hold_nul_ || sv.find('\0') == std::string_view::npos) {
      put(sv);
      return;
    }
    quirk(Quirk::nul_in_string);
    std::string replaced;
    for (char c : sv) {
      if (c == '\0') replaced += "\xEF\xBF\xBD";
      else replaced.push_back(c);
    }
    put(std::string_view(replaced));
  }

  std::optional<Rejection> string(dom::element v, const Path& p, std::string& out, bool non_empty = false) {
    std::string_view sv;
    if (auto r = text(v, p, sv, non_empty)) return r;
    store(sv, [&out](std::string_view x) { out.assign(x); });
    return std::nullopt;
  }

  // A failure-detail field; null counts as absent except for result-type.
  std::optional<Rejection> detail_field(dom::element v, const Path& p, report::FailureDetail& fd,
                                        report::FailureDetail::Field f) {
    const bool required = f == report::FailureDetail::result_type;
    if (!required && v.is_null()) return std::nullopt;
    std::string_view sv;
    if (auto r = text(v, p, sv, required)) return r;
    store(sv, [&fd, f](std::string_view x) { fd.set(f, x); });
    return std::nullopt;
  }

  std::optional<Rejection> optional_string(dom::element v, const Path& p, std::optional<std::string>& out) {
    if (v.is_null()) return std::nullopt;
    out.emplace();
    return string(v, p, *out);
  }

  std::optional<Rejection> count(dom::element v, const Path& p, std::int64_t& out) {
    switch (v.type()) {
      case dom::element_type::INT64: {
        const std::int64_t n = v.get_int64().value_unsafe();
        if (n < 0) return Rejection{Reason::count_out_of_range, p.str() + ": " + std::to_string(n) + " is negative"};
        out = n;
        return std::nullopt;
      }
      case dom::element_type::UINT64:
        return Rejection{Reason::count_out_of_range,
                         p.str() + ": " + std::to_string(v.get_uint64().value_unsafe()) + " is larger than 2^63-1"};
      case dom::element_type::DOUBLE: {
        const double d = v.get_double().value_unsafe();
        if (d == std::floor(d) && (d < 0 || d > 9.2e18))
          return Rejection{Reason::count_out_of_range, p.str() + ": out of range"};
        return wrong(p, v, "an integer");
      }
      default:
        return wrong(p, v, "an integer");
    }
  }

  std::optional<Rejection> datetime(dom::element v, const Path& p, std::int64_t& out) {
    std::string text;
    if (auto r = string(v, p, text)) return r;
    auto dt = report::parse_datetime(text);
    if (!dt) return Rejection{Reason::invalid_value, p.str() + ": " + report::printable(text) + " is not an RFC 3339 date-time"};
    out = dt->epoch;
    out_.quirks.merge(dt->quirks);
    return std::nullopt;
  }

  std::optional<Rejection> date_range(dom::element v, const Path& p) {
    static constexpr std::array<Key, 2> keys{{{"start-datetime", 0}, {"end-datetime", 1}}};
    return object(v, p, keys, 0b11, [this](unsigned slot, std::string_view, dom::element value, const Path& kp) {
      return datetime(value, kp, slot == 0 ? out_.start_datetime : out_.end_datetime);
    });
  }

  std::optional<Rejection> policies(dom::element v, const Path& p) {
    dom::array arr;
    if (v.get_array().get(arr)) return wrong(p, v, "an array");
    if (arr.size() == 0) return Rejection{Reason::invalid_value, "policies: empty array"};
    if (arr.size() > limits_.policies)
      return Rejection{Reason::too_many_policies, std::to_string(arr.size()) + " policies (limit " +
                                                      std::to_string(limits_.policies) + ")"};
    out_.policies.reserve(arr.size());
    long i = 0;
    for (dom::element item : arr) {
      const Path ip{&p, {}, i++};
      if (auto r = policy_entry(item, ip)) return r;
    }
    return std::nullopt;
  }

  std::optional<Rejection> policy_entry(dom::element v, const Path& p) {
    report::Policy& pol = out_.policies.emplace_back();
    static constexpr std::array<Key, 3> keys{{{"policy", 0}, {"summary", 1}, {"failure-details", 2}}};
    return object(v, p, keys, 0b011,
                  [this, &pol](unsigned slot, std::string_view, dom::element value, const Path& kp) {
                    switch (slot) {
                      case 0: return policy(value, kp, pol);
                      case 1: return summary(value, kp, pol);
                      default: return failure_details(value, kp, pol);
                    }
                  });
  }

  // A list of strings given as an array (or, tolerated, as one string).
  std::optional<Rejection> string_list(dom::element v, const Path& p, std::vector<std::string>& out,
                                       Quirk not_array, Quirk empty) {
    if (v.is_string()) {
      quirk(not_array);
      return string(v, p, out.emplace_back());
    }
    dom::array arr;
    if (v.get_array().get(arr)) return wrong(p, v, "an array of strings");
    if (arr.size() == 0) quirk(empty);
    out.reserve(arr.size());
    long i = 0;
    for (dom::element item : arr) {
      const Path ip{&p, {}, i++};
      if (auto r = string(item, ip, out.emplace_back())) return r;
    }
    return std::nullopt;
  }

  // Microsoft puts a TLSA policy-string as one string holding a JSON array of records.
  void unpack_json_array_string(std::vector<std::string>& lines) {
    if (lines.size() != 1 || lines[0].size() < 2 || lines[0].front() != '[' || lines[0].back() != ']') return;
    thread_local dom::parser inner;
    const padded_string copy(lines[0]);
    dom::element doc;
    if (inner.parse(copy).get(doc)) return;
    dom::array arr;
    if (doc.get_array().get(arr)) return;
    std::vector<std::string> unpacked;
    for (dom::element item : arr) {
      std::string_view sv;
      if (item.get_string().get(sv)) return;  // not an array of strings: keep the text as it came
      unpacked.emplace_back(sv);
    }
    lines = std::move(unpacked);
    quirk(Quirk::policy_string_json_array);
  }

  std::optional<Rejection> policy(dom::element v, const Path& p, report::Policy& pol) {
    enum : unsigned { type, string_, domain, mx };
    static constexpr std::array<Key, 5> keys{{{"policy-type", type}, {"policy-string", string_},
                                              {"policy-domain", domain}, {"mx-host", mx}, {"mx-host-pattern", mx}}};
    auto r = object(v, p, keys, 1u << type,
                    [this, &pol](unsigned slot, std::string_view key, dom::element value,
                                 const Path& kp) -> std::optional<Rejection> {
                      switch (slot) {
                        case type: return string(value, kp, pol.policy_type);
                        case string_: {
                          auto e = string_list(value, kp, pol.policy_string, Quirk::policy_string_not_array,
                                               Quirk::policy_string_empty);
                          if (!e) unpack_json_array_string(pol.policy_string);
                          return e;
                        }
                        case domain: {
                          if (value.is_null()) return std::nullopt;  // filled from hints like an absent one
                          auto e = string(value, kp, pol.policy_domain, true);
                          if (!e && !report::normalise_domain(pol.policy_domain, out_.quirks))
                            e = Rejection{Reason::invalid_value, kp.str() + ": " + report::printable(pol.policy_domain) +
                                                                     " is not a domain name"};
                          return e;
                        }
                        default: {
                          if (key == "mx-host-pattern") quirk(Quirk::key_mx_host_pattern);
                          auto e = string_list(value, kp, pol.mx_host, Quirk::mx_host_string, Quirk::mx_host_empty);
                          if (!e) normalise_mx_hosts(pol.mx_host);
                          return e;
                        }
                      }
                    });
    if (r) return r;
    if (pol.policy_type != "sts" && pol.policy_type != "tlsa" && pol.policy_type != "no-policy-found")
      return Rejection{Reason::invalid_value, p.str() + ".policy-type: " + report::printable(pol.policy_type) +
                                                  " is not sts, tlsa or no-policy-found"};
    return std::nullopt;
  }

  void normalise_mx_hosts(std::vector<std::string>& hosts) {
    for (auto& h : hosts) {
      if (h.size() > 3 && (h.compare(0, 3, "mx:") == 0 || h.compare(0, 3, "MX:") == 0)) {
        const auto b = h.find_first_not_of(" \t", 3);
        h.erase(0, b == std::string::npos ? h.size() : b);
        quirk(Quirk::mx_host_policy_line);
      }
      report::normalise_domain(h, out_.quirks);  // a pattern that is not a name is kept as it came
    }
  }

  std::optional<Rejection> summary(dom::element v, const Path& p, report::Policy& pol) {
    static constexpr std::array<Key, 2> keys{{{"total-successful-session-count", 0}, {"total-failure-session-count", 1}}};
    return object(v, p, keys, 0b11, [this, &pol](unsigned slot, std::string_view, dom::element value, const Path& kp) {
      return count(value, kp, slot == 0 ? pol.total_successful_session_count : pol.total_failure_session_count);
    });
  }

  std::optional<Rejection> failure_details(dom::element v, const Path& p, report::Policy& pol) {
    dom::array arr;
    if (v.get_array().get(arr)) return wrong(p, v, "an array");
    if (arr.size() == 0) quirk(Quirk::failure_details_empty);
    if (arr.size() > limits_.failure_details)
      return Rejection{Reason::too_many_failure_details,
                       p.str() + ": " + std::to_string(arr.size()) + " entries (limit " +
                           std::to_string(limits_.failure_details) + ")"};
    pol.failure_details.reserve(arr.size());
    long i = 0;
    for (dom::element item : arr) {
      const Path ip{&p, {}, i++};
      if (auto r = failure_detail(item, ip, pol.failure_details.emplace_back())) return r;
    }
    return std::nullopt;
  }

  void check_ip(const report::FailureDetail& fd, report::FailureDetail::Field f) {
    if (fd.has(f) && !report::is_ip_address(fd.get(f))) quirk(Quirk::invalid_ip_address);
  }

  std::optional<Rejection> failure_detail(dom::element v, const Path& p, report::FailureDetail& fd) {
    using F = report::FailureDetail;
    constexpr unsigned count_slot = F::field_count;
    static constexpr std::array<Key, 10> keys{{{"result-type", F::result_type},
                                               {"sending-mta-ip", F::sending_mta_ip},
                                               {"receiving-mx-hostname", F::receiving_mx_hostname},
                                               {"receiving-mx-helo", F::receiving_mx_helo},
                                               {"receiving-ip", F::receiving_ip},
                                               {"failed-session-count", count_slot},
                                               {"additional-information", F::additional_information},
                                               {"failure-reason-code", F::failure_reason_code},
                                               {"receiving-mx-host-name", F::receiving_mx_hostname},
                                               {"additional-info-uri", F::additional_information}}};
    fd.reserve(192);  // the text of a typical detail: one allocation
    unsigned seen = 0;
    auto r = object(v, p, keys, 1u << F::result_type | 1u << count_slot,
                    [this, &fd](unsigned slot, std::string_view key, dom::element value, const Path& kp) {
                      if (slot == count_slot) return count(value, kp, fd.failed_session_count);
                      if (key == "receiving-mx-host-name") quirk(Quirk::key_receiving_mx_host_name);
                      if (key == "additional-info-uri") quirk(Quirk::key_additional_info_uri);
                      return detail_field(value, kp, fd, static_cast<F::Field>(slot));
                    },
                    &seen);
    if (r) return r;
    if (!report::is_registered_result_type(fd.get(F::result_type))) quirk(Quirk::unknown_result_type);
    if ((seen & ~(1u << count_slot | 1u << F::result_type)) == 0) quirk(Quirk::failure_detail_minimal);
    if (fd.get(F::failure_reason_code).size() > 100) quirk(Quirk::failure_reason_code_long);
    if (fd.has(F::receiving_mx_hostname)) {
      const std::size_t n = report::normalise_domain(fd.edit(F::receiving_mx_hostname), out_.quirks);
      if (n != std::string::npos) fd.set_size(F::receiving_mx_hostname, n);
    }
    check_ip(fd, F::sending_mta_ip);
    check_ip(fd, F::receiving_ip);
    return std::nullopt;
  }

  const report::Limits& limits_;
  report::Report& out_;
  bool may_hold_nul_;
};

// simdjson 3.0 reports an integer beyond 64 bits as a generic NUMBER_ERROR; tell it apart from
// a malformed number by looking for a bare run of 20+ digits (no 64-bit integer has 20 digits
// and starts below 1.8e19, so such a run is always out of range for a count).
bool has_huge_integer(std::string_view text) {
  std::size_t run = 0;
  char before = ' ';
  for (std::size_t i = 0; i <= text.size(); ++i) {
    const char c = i < text.size() ? text[i] : ' ';
    if (c >= '0' && c <= '9') {
      if (run++ == 0) before = i ? text[i - 1] : ' ';
      continue;
    }
    if (run >= 20 && std::strchr(":,[ \t\r\n-", before) && std::strchr(",]} \t\r\n", c)) return true;
    run = 0;
  }
  return false;
}

Rejection from_simdjson(error_code e, std::string_view text) {
  if (e == NUMBER_ERROR && has_huge_integer(text))
    return {Reason::count_out_of_range, "a number does not fit in 64 bits"};
  switch (e) {
    case UTF8_ERROR: return {Reason::invalid_utf8, "the JSON text is not valid UTF-8"};
    case DEPTH_ERROR: return {Reason::json_too_deep, "JSON nesting exceeds limit json_depth"};
    case EMPTY: return {Reason::invalid_json, "no JSON value"};
    // Numbers in a report are session counts; one that does not fit 64 bits is out of range.
    case NUMBER_OUT_OF_RANGE: return {Reason::count_out_of_range, "a number does not fit in 64 bits"};
    default: return {Reason::invalid_json, error_message(e)};
  }
}

// One parser per thread; its capacity grows on demand, its depth limit is set per allocation.
struct ParserSlot {
  dom::parser parser;
  std::size_t depth = 0;
};
thread_local ParserSlot slot;

dom::parser& parser_for(const report::Limits& limits) {
  if (slot.depth != limits.json_depth && slot.parser.allocate(4096, limits.json_depth) == SUCCESS)
    slot.depth = limits.json_depth;
  return slot.parser;
}

// Releases the memory of an exceptionally large document rather than keep it per thread.
void trim_parser() {
  if (slot.parser.capacity() > 8 * report::MiB) {
    slot.parser = dom::parser(SIMDJSON_MAXSIZE_BYTES);
    slot.depth = 0;
  }
}

std::variant<report::Report, report::Rejection> read_padded(const char* data, std::size_t size,
                                                            const report::Limits& limits) {
  report::Report out;
  if (size >= 3 && std::memcmp(data, "\xEF\xBB\xBF", 3) == 0) {
    out.quirks.add(Quirk::utf8_bom);
    data += 3;
    size -= 3;
  }
  if (size > limits.inflated_size)
    return Rejection{Reason::inflated_too_large, "the JSON text exceeds limit inflated_size"};
  dom::parser& parser = parser_for(limits);
  dom::element root;
  if (auto e = parser.parse(data, size, false).get(root)) {
    trim_parser();
    return from_simdjson(e, std::string_view(data, size));
  }
  Reader reader(limits, out, std::string_view(data, size).find("\\u0000") != std::string_view::npos);
  auto r = reader.top(root);
  trim_parser();
  if (r) return *r;
  return out;
}

}  // namespace

std::variant<report::Report, report::Rejection> read_padded_report(std::string_view json,
                                                                   const report::Limits& limits) {
  return read_padded(json.data(), json.size(), limits);
}

std::variant<report::Report, report::Rejection> read_report(std::string_view json,
                                                            const report::Limits& limits) {
  thread_local std::string buffer;
  buffer.reserve(json.size() + SIMDJSON_PADDING);
  buffer.assign(json);
  auto result = read_padded(buffer.data(), buffer.size(), limits);
  if (buffer.capacity() > 8 * report::MiB) std::string().swap(buffer);
  return result;
}

bool is_valid_utf8(std::string_view text) { return simdjson::validate_utf8(text.data(), text.size()); }

}  // namespace tlsrpt::json
