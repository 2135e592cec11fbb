#include "web/pages.hpp"
#include "json/text.hpp"

#include <kainjow/mustache.hpp>
#include <simdjson.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <stdexcept>

#include "pipeline/output.hpp"
#include "policy/finding.hpp"
#include "report/reason.hpp"
#include "report/report.hpp"
#include "web/assets.hpp"

namespace tlsrpt::web {
namespace {

namespace mu = kainjow::mustache;
using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

// JSON access with defaults: the API's answers have known shapes, but a missing or null field
// shows as empty rather than failing the page.
// A JSON null and an empty array standing for what is missing (default-constructed elements
// are not usable), from a document parsed once and only read afterwards.
element defaults() {
  static simdjson::dom::parser parser;
  static const element doc = [] {
    element e;
    if (parser.parse(std::string_view("{\"null\":null,\"array\":[]}")).get(e)) throw std::logic_error("simdjson failed");
    return e;
  }();
  return doc;
}
element missing() { return defaults()["null"].value_unsafe(); }
element field(element e, std::string_view key) {
  element out;
  if (e.at_key(key).get(out)) return missing();
  return out;
}
bool present(element e) { return e.type() != simdjson::dom::element_type::NULL_VALUE; }
std::string text(element e) {
  std::string_view s;
  if (!e.get_string().get(s)) return std::string(s);
  std::int64_t i = 0;
  if (!e.get_int64().get(i)) return std::to_string(i);
  double d = 0;
  if (!e.get_double().get(d)) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", d);
    return buf;
  }
  bool b = false;
  if (!e.get_bool().get(b)) return b ? "yes" : "no";
  if (!present(e)) return "";
  return simdjson::minify(e);
}
std::string text(element e, std::string_view key) { return text(field(e, key)); }
std::int64_t number(element e, std::string_view key) {
  std::int64_t i = 0;
  if (!field(e, key).get_int64().get(i)) return i;
  double d = 0;
  if (!field(e, key).get_double().get(d)) return static_cast<std::int64_t>(d);
  return 0;
}
std::optional<double> ratio(element e, std::string_view key) {
  double d = 0;
  if (field(e, key).get_double().get(d)) return std::nullopt;
  return d;
}
array items(element e, std::string_view key) {
  array a;
  if (field(e, key).get_array().get(a)) return defaults()["array"].get_array().value_unsafe();
  return a;
}
bool flag(element e, std::string_view key) {
  bool b = false;
  return !field(e, key).get_bool().get(b) && b;
}

// Sets a field; an empty text is set as false, so that a template's {{#field}} section (which
// shows for any string, even an empty one) shows only for a value.
void put(mu::data& d, const std::string& key, const std::string& value) {
  if (value.empty()) d.set(key, false);
  else d.set(key, value);
}
void put(mu::data& d, const std::string& key, const char* value) { put(d, key, std::string(value)); }
void put(mu::data& d, const std::string& key, const mu::data& value) { d.set(key, value); }
void put(mu::data& d, const std::string& key, mu::data&& value) { d[key] = std::move(value); }
void put(mu::data& d, const std::string& key, bool value) { d.set(key, value); }

// Appends to a list without copying the item: mu::data::push_back copies (a deep copy of every
// nested list and object, most of a page's rendering time), so the item is moved into the
// list's own vector (the list object is not const; only its accessor is).
void append(mu::data& list, mu::data&& item) {
  const_cast<mu::basic_list<std::string>&>(list.list_value()).push_back(std::move(item));
}

// Figures as people read them: 1,234,567.
std::string grouped(std::int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}
std::string percent(double r) {
  char buf[32];
  std::snprintf(buf, sizeof buf, r >= 0.9995 && r < 1 ? "%.3f %%" : "%.1f %%", r * 100);
  return buf;
}
// A success ratio as text and a class for its colour (the text carries the meaning).
mu::data ratio_data(std::optional<double> r) {
  mu::data d;
  put(d, "text", r ? percent(*r) : std::string("no sessions"));
  put(d, "level", !r ? "none" : *r >= 0.999 ? "good" : *r >= 0.98 ? "fair" : "poor");
  return d;
}
std::string day_of(std::string_view time) { return std::string(time.substr(0, 10)); }

// A page's path plus query built from fixed names and encoded values.
std::string link(std::string path, std::initializer_list<std::pair<std::string_view, std::string>> params) {
  char sep = '?';
  for (const auto& [name, value] : params) {
    if (value.empty()) continue;
    path += sep;
    path += std::string(name) + "=" + url_encode(value);
    sep = '&';
  }
  return path;
}

// Every field of a JSON object as {key, value} rows (nested values as compact JSON).
mu::data rows_of(element e) {
  mu::data list(mu::data::type::list);
  object o;
  if (e.get_object().get(o)) return list;  // not an object: no rows
  for (const auto f : o) {
    if (!present(f.value)) continue;
    mu::data row;
    put(row, "key", std::string(f.key));
    put(row, "value", text(f.value));
    append(list, std::move(row));
  }
  return list;
}

const std::string& asset(std::string_view name) {
  static const std::map<std::string, std::string, std::less<>> all = [] {
    std::map<std::string, std::string, std::less<>> m;
    for (const auto& a : assets()) m.emplace(std::string(a.name), std::string(a.text));
    return m;
  }();
  const auto it = all.find(name);
  if (it == all.end()) throw std::logic_error("no web asset " + std::string(name));
  return it->second;
}

// Templates are parsed once per thread (rendering is not const in kainjow mustache).
std::string render(std::string_view name, const mu::data& data) {
  thread_local std::map<std::string, mu::mustache, std::less<>> parsed;
  auto it = parsed.find(name);
  if (it == parsed.end()) {
    it = parsed.emplace(std::string(name), mu::mustache(asset(name))).first;
    if (!it->second.is_valid()) throw std::logic_error(std::string(name) + ": " + it->second.error_message());
  }
  return it->second.render(data);
}

// The page: the layout around content rendered from `name`.
std::string page(std::string_view name, std::string title, mu::data data, const Frame& frame) {
  mu::data viewer;
  put(viewer, "signed_in", frame.viewer.signed_in);
  put(viewer, "admin", frame.viewer.admin);
  put(viewer, "role", frame.viewer.admin ? "admin" : "read");
  put(viewer, "csrf", frame.viewer.csrf);
  put(data, "viewer", viewer);
  mu::data layout;
  put(layout, "title", title);
  put(layout, "viewer", viewer);
  put(layout, "twin", frame.twin);
  put(layout, "version", TLSRPT_VERSION);
  put(layout, "content", render(name, data));
  return render("layout.mustache", layout);
}

// The JSON twin's answer, parsed by this thread's parser (its buffers kept from one page to the
// next; the document lives until the thread renders its next page).
simdjson::dom::element parse(std::string_view json) {
  thread_local simdjson::dom::parser parser;
  element doc;
  if (parser.parse(json.data(), json.size()).get(doc)) throw std::runtime_error("the API's answer is not JSON");
  return doc;
}

// A bar chart in SVG: one column per day, each stacked from `series` (name, class, values).
struct Series {
  std::string name, css;
  std::vector<std::int64_t> values;
};
mu::data bar_chart(const std::vector<std::string>& days, const std::vector<Series>& series, std::string_view what,
                   int width = 720, int height = 180) {
  mu::data chart;
  std::int64_t top = 0;
  for (std::size_t i = 0; i < days.size(); ++i) {
    std::int64_t sum = 0;
    for (const auto& s : series) sum += s.values[i];
    top = std::max(top, sum);
  }
  const int left = 56, bottom = 20, plot_h = height - bottom - 8;
  const double slot = days.empty() ? 0 : static_cast<double>(width - left - 4) / static_cast<double>(days.size());
  mu::data bars(mu::data::type::list);
  for (std::size_t i = 0; i < days.size(); ++i) {
    double y = height - bottom;
    std::string title = days[i] + ":";
    for (const auto& s : series) title += " " + grouped(s.values[i]) + " " + s.name + ",";
    title.pop_back();
    for (const auto& s : series) {
      if (s.values[i] <= 0 || top == 0) continue;
      const double h = std::max(1.0, static_cast<double>(s.values[i]) * plot_h / static_cast<double>(top));
      y -= h;
      mu::data bar;
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.1f", left + slot * static_cast<double>(i) + slot * 0.1);
      put(bar, "x", std::string(buf));
      std::snprintf(buf, sizeof buf, "%.1f", y);
      put(bar, "y", std::string(buf));
      std::snprintf(buf, sizeof buf, "%.1f", std::max(1.0, slot * 0.8));
      put(bar, "w", std::string(buf));
      std::snprintf(buf, sizeof buf, "%.1f", h);
      put(bar, "h", std::string(buf));
      put(bar, "css", s.css);
      put(bar, "title", title);
      append(bars, std::move(bar));
    }
  }
  put(chart, "bars", bars);
  put(chart, "width", std::to_string(width));
  put(chart, "height", std::to_string(height));
  put(chart, "top", grouped(top));
  put(chart, "axis_y", std::to_string(height - bottom));
  put(chart, "axis_x", std::to_string(left));
  put(chart, "axis_right", std::to_string(width - 4));
  put(chart, "first", days.empty() ? std::string() : days.front());
  put(chart, "last", days.empty() ? std::string() : days.back());
  put(chart, "label_y", std::to_string(height - 4));
  put(chart, "label_right", std::to_string(width - 4));
  mu::data legend(mu::data::type::list);
  std::string alt = std::string(what) + ", " + std::to_string(days.size()) + " days";
  for (const auto& s : series) {
    std::int64_t sum = 0;
    for (auto v : s.values) sum += v;
    mu::data l;
    put(l, "name", s.name);
    put(l, "css", s.css);
    put(l, "total", grouped(sum));
    append(legend, std::move(l));
    alt += "; " + s.name + " " + grouped(sum);
  }
  put(chart, "legend", legend);
  put(chart, "alt", alt);
  put(chart, "empty", top == 0);
  return chart;
}

// Template fields named as the JSON fields of `e` they show, as text.
mu::data fields_of(element e, std::initializer_list<const char*> keys) {
  mu::data x;
  for (const char* key : keys) put(x, key, text(e, key));
  return x;
}

// A template list: one entry per element of `array`, made by `row`.
template <class Row>
mu::data list_of(array elements, Row&& row) {
  mu::data out(mu::data::type::list);
  for (const auto e : elements) append(out, row(e));
  return out;
}

// Failed sessions of a result type ({result_type, sessions}), with its hint and a link to the
// domain's reports with it (from `from` when given).
mu::data result_row(element r, const std::string& domain, const std::string& from) {
  mu::data x;
  const std::string type = text(r, "result_type");
  put(x, "name", type);
  put(x, "sessions", grouped(number(r, "sessions")));
  put(x, "hint", std::string(report::result_type_hint(type)));
  put(x, "href", link("/reports", {{"domain", domain}, {"result_type", type}, {"from", from}}));
  return x;
}

// A row of GET /api/v1/reports (the reports page and a domain's newest reports).
mu::data report_row(element r) {
  mu::data x = fields_of(r, {"id", "report_id"});
  put(x, "href", "/reports/" + text(r, "id"));
  put(x, "organization", text(r, "organization_name"));
  put(x, "start", text(r, "start_datetime"));
  put(x, "end", text(r, "end_datetime"));
  std::string domains;
  for (const auto d : items(r, "policy_domains")) domains += (domains.empty() ? "" : ", ") + text(d);
  put(x, "domains", domains);
  put(x, "successful", grouped(number(r, "successful_sessions")));
  put(x, "failed", grouped(number(r, "failed_sessions")));
  return x;
}

std::string finding_hint(std::string_view name) {
  if (const auto f = policy::finding_from_string(name)) return std::string(policy::info(*f).hint);
  return "";
}

// A JSON value as a short text: a scalar as itself, a list of scalars or an object of scalars
// spelled out (at most 10 entries), anything larger by its size (the JSON twin has it all).
std::string summary_text(element v) {
  array a;
  object o;
  const auto scalar = [](element e) {
    return e.type() != simdjson::dom::element_type::ARRAY && e.type() != simdjson::dom::element_type::OBJECT;
  };
  if (!v.get_array().get(a)) {
    std::string out;
    std::size_t n = 0;
    for (const auto e : a) {
      if (!scalar(e)) return std::to_string(a.size()) + " entries";
      if (n++ < 10) out += (out.empty() ? "" : ", ") + text(e);
    }
    return n > 10 ? out + " and " + std::to_string(n - 10) + " more" : out.empty() ? "none" : out;
  }
  if (!v.get_object().get(o)) {
    std::string out;
    std::size_t n = 0;
    for (const auto f : o) {
      if (!scalar(f.value) || ++n > 10) return std::to_string(o.size()) + " entries";
      out += (out.empty() ? "" : ", ") + std::string(f.key) + ": " + text(f.value);
    }
    return out.empty() ? "none" : out;
  }
  return text(v);
}

// The readiness evidence as rows: each field, and each field of an object one level down.
mu::data evidence_rows(element evidence) {
  mu::data rows(mu::data::type::list);
  object top;
  if (evidence.get_object().get(top)) return rows;
  for (const auto f : top) {
    object inner;
    if (!f.value.get_object().get(inner)) {
      for (const auto g : inner) {
        mu::data row;
        put(row, "key", std::string(f.key) + " " + std::string(g.key));
        put(row, "value", summary_text(g.value));
        append(rows, std::move(row));
      }
    } else {
      mu::data row;
      put(row, "key", std::string(f.key));
      put(row, "value", summary_text(f.value));
      append(rows, std::move(row));
    }
  }
  return rows;
}

// The strings of a list field, joined with ", ".
std::string joined(element parent, std::string_view key) {
  std::string out;
  for (const auto m : items(parent, key)) out += (out.empty() ? "" : ", ") + text(m);
  return out;
}

// {reason, detail} objects (readiness reasons, roll-out blockers) as template rows.
mu::data reason_rows(element parent, std::string_view key) {
  mu::data rows(mu::data::type::list);
  for (const auto b : items(parent, key)) {
    mu::data row;
    put(row, "reason", text(b, "reason"));
    put(row, "detail", text(b, "detail"));
    append(rows, std::move(row));
  }
  return rows;
}

// The roll-out answer (the hosted policy, its DNS step, the next step, the history).
mu::data rollout_data(element r) {
  mu::data out;
  const element policy = field(r, "policy");
  if (present(policy)) {
    mu::data p;
    for (const char* key : {"mode", "id", "changed_at"}) put(p, key, text(policy, key));
    put(p, "max_age", grouped(number(policy, "max_age")));
    put(p, "mx", joined(policy, "mx"));
    put(p, "text", text(policy, "text"));
    put(out, "policy", p);
  } else {
    put(out, "policy", false);
  }
  const element dns = field(r, "dns");
  if (present(dns)) {
    mu::data d;
    const std::string state = text(dns, "state");
    put(d, "state", state);
    put(d, "state_css", state == "confirmed" || state == "updated" ? "good" : state == "failed" ? "poor" : "fair");
    put(d, "detail", text(dns, "detail"));
    put(d, "record", text(dns, "record"));
    put(d, "pending", text(field(r, "next"), "step") == "publish-record");
    put(out, "dns", d);
  } else {
    put(out, "dns", false);
  }
  const element next = field(r, "next");
  put(out, "next_step", text(next, "step"));
  put(out, "blocked_by", reason_rows(next, "blocked_by"));
  put(out, "blocked", items(next, "blocked_by").size() > 0);
  put(out, "held_until", text(r, "held_until"));
  mu::data history(mu::data::type::list);
  for (const auto h : items(r, "history")) {
    mu::data row;
    for (const char* key : {"at", "actor", "action", "reason"}) put(row, key, text(h, key));
    put(row, "forced", flag(h, "forced"));
    put(row, "to", present(field(h, "new")) ? text(field(h, "new"), "mode") : std::string("(hosting ended)"));
    append(history, std::move(row));
  }
  put(out, "history", history);
  put(out, "has_history", items(r, "history").size() > 0);
  return out;
}

// The readiness answer (verdict, reasons, evidence) for the templates.
mu::data readiness_data(element r) {
  mu::data out;
  put(out, "verdict", text(r, "verdict"));
  put(out, "verdict_css", flag(r, "all_clear") ? "good" : "poor");
  put(out, "emergency", flag(r, "emergency"));
  put(out, "reasons", reason_rows(r, "reasons"));
  put(out, "has_reasons", items(r, "reasons").size() > 0);
  put(out, "evidence", evidence_rows(field(r, "evidence")));
  return out;
}

}  // namespace

std::string url_encode(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

const std::vector<std::pair<std::string, std::string>>& security_headers() {
  static const std::vector<std::pair<std::string, std::string>> h = {
      {"Content-Security-Policy",
       "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'"},
      {"X-Content-Type-Options", "nosniff"},
      {"X-Frame-Options", "DENY"},
      {"Referrer-Policy", "same-origin"},
  };
  return h;
}

std::string_view stylesheet() { return asset("style.css"); }

std::string hints_json() {
  std::string out = "{\"result_types\":[";
  bool first = true;
  for (const auto& r : report::all_result_types()) {
    out += first ? "{\"result_type\":" : ",{\"result_type\":";
    first = false;
    json::append_string(out, r.name);
    out += ",\"hint\":";
    json::append_string(out, r.hint);
    out += "}";
  }
  out += "],\"unregistered_result_type\":";
  json::append_string(out, report::result_type_hint(""));
  out += ",\"findings\":[";
  first = true;
  for (const auto& f : policy::all_findings()) {
    out += first ? "{\"finding\":" : ",{\"finding\":";
    first = false;
    json::append_string(out, f.name);
    out += ",\"severity\":\"" + std::string(policy::to_string(f.severity)) + "\",\"description\":";
    json::append_string(out, f.description);
    out += ",\"hint\":";
    json::append_string(out, f.hint);
    out += "}";
  }
  return out + "]}";
}

std::string domains_page(std::string_view json, const Frame& frame, std::string_view name_filter) {
  const element doc = parse(json);
  // One page, filtered and sorted by the API (its twin).
  struct Row {
    element e;
    std::string name;
    std::optional<double> r7, r;
    std::int64_t failed = 0;
  };
  std::vector<Row> rows;
  for (const auto d : items(doc, "domains"))
    rows.push_back(Row{d, text(d, "policy_domain"), ratio(field(d, "last_7_days"), "success_ratio"),
                       ratio(field(d, "range"), "success_ratio"), number(field(d, "range"), "failed_sessions")});
  const std::string sort = text(doc, "sort");
  const std::string days = text(doc, "days");
  mu::data list(mu::data::type::list);
  for (const Row& row : rows) {
    const element d = row.e;
    mu::data o;
    put(o, "name", row.name);
    put(o, "href", "/domains/" + url_encode(row.name) + (days == "30" ? "" : "?days=" + days));
    put(o, "monitored", flag(d, "monitored"));
    put(o, "r7", ratio_data(row.r7));
    put(o, "r", ratio_data(row.r));
    put(o, "failed", grouped(row.failed));
    put(o, "sessions", grouped(row.failed + number(field(d, "range"), "successful_sessions")));
    // The sparkline: each day's success ratio as a bar, the bars of each level drawn as one SVG
    // path (a few elements per domain instead of one per day); a day without sessions is a dot on
    // the base line. The text alternative names the worst day.
    std::map<std::string, std::string> paths;  // level -> path data (digits only)
    std::string lowest;
    double lowest_ratio = 2;
    int i = 0;
    for (const auto p : items(d, "daily")) {
      const std::int64_t ok = number(p, "successful_sessions"), failed = number(p, "failed_sessions");
      const std::string x = std::to_string(i * 4);
      if (ok + failed == 0) {
        paths["none"] += "M" + x + " 22h3v1h-3z";
      } else {
        const double r = static_cast<double>(ok) / static_cast<double>(ok + failed);
        const int h = 2 + static_cast<int>(r * 20);
        paths[r >= 0.999 ? "good" : r >= 0.98 ? "fair" : "poor"] += "M" + x + " " + std::to_string(23 - h) + "h3v" +
                                                                    std::to_string(h) + "h-3z";
        if (r < lowest_ratio) lowest_ratio = r, lowest = day_of(text(p, "time"));
      }
      ++i;
    }
    mu::data spark(mu::data::type::list);
    for (const auto& [level, path] : paths) {
      mu::data b;
      put(b, "css", level);
      put(b, "d", path);
      append(spark, std::move(b));
    }
    put(o, "spark", std::move(spark));
    put(o, "spark_width", std::to_string(std::max(i * 4, 4)));
    put(o, "spark_alt", lowest.empty() ? "Daily success ratio: no sessions"
                                      : "Daily success ratio, lowest " + percent(lowest_ratio) + " on " + lowest);
    put(o, "results", list_of(items(d, "by_result_type"), [&](element r) { return result_row(r, row.name, ""); }));
    const element newest = field(d, "newest_report");
    if (present(newest)) {
      mu::data n;
      put(n, "href", "/reports/" + text(newest, "id"));
      put(n, "organization", text(newest, "organization_name"));
      put(n, "start", day_of(text(newest, "start_datetime")));
      put(o, "newest", std::move(n));
    } else {
      put(o, "newest", false);
    }
    std::string orgs;
    for (const auto n : items(d, "organizations")) orgs += (orgs.empty() ? "" : ", ") + text(n);
    put(o, "organizations", orgs);
    const element posture = field(d, "posture");
    if (present(posture)) {
      mu::data p;
      put(p, "errors", text(posture, "errors"));
      put(p, "warnings", text(posture, "warnings"));
      put(p, "clean", number(posture, "errors") == 0 && number(posture, "warnings") == 0);
      put(p, "checked", day_of(text(posture, "checked_at")));
      put(o, "posture", std::move(p));
    } else {
      put(o, "posture", false);
    }
    const std::string verdict = text(d, "readiness");
    put(o, "readiness", verdict.empty() ? mu::data(false) : mu::data(verdict));
    put(o, "readiness_css", verdict == "ready" ? "good" : verdict == "enforced" ? "none" : "poor");
    append(list, std::move(o));
  }
  mu::data data;
  put(data, "domains", std::move(list));
  const std::int64_t total = number(doc, "total"), page_no = number(doc, "page"), pages = number(doc, "pages"),
                     limit = number(doc, "limit");
  put(data, "count", grouped(total));
  put(data, "empty", total == 0);
  put(data, "past_end", total > 0 && rows.empty());
  put(data, "days", days);
  put(data, "filter", std::string(name_filter));
  put(data, "sort", std::string(sort == "name" ? "" : sort));
  // Pages: the same filter, sort, range and size.
  const auto page_link = [&](std::int64_t n) {
    return link("/", {{"q", std::string(name_filter)}, {"sort", sort == "name" ? "" : sort}, {"days", days == "30" ? "" : days},
                      {"limit", limit == 50 ? "" : std::to_string(limit)}, {"page", n == 1 ? "" : std::to_string(n)}});
  };
  put(data, "page", std::to_string(page_no));
  put(data, "pages", std::to_string(std::max<std::int64_t>(pages, 1)));
  put(data, "paged", pages > 1);
  put(data, "first_row", grouped(rows.empty() ? 0 : (page_no - 1) * limit + 1));
  put(data, "last_row", grouped((page_no - 1) * limit + static_cast<std::int64_t>(rows.size())));
  put(data, "prev", page_no > 1 ? mu::data(page_link(std::min(page_no - 1, std::max<std::int64_t>(pages, 1)))) : mu::data(false));
  put(data, "next", page_no < pages ? mu::data(page_link(page_no + 1)) : mu::data(false));
  put(data, "first", page_no > 2 ? mu::data(page_link(1)) : mu::data(false));
  put(data, "last", page_no + 1 < pages ? mu::data(page_link(pages)) : mu::data(false));
  mu::data options(mu::data::type::list);
  for (const char* n : {"7", "30", "90", "365"}) {
    mu::data o;
    put(o, "value", std::string(n));
    put(o, "selected", days == n);
    append(options, std::move(o));
  }
  put(data, "day_options", std::move(options));
  mu::data sorts(mu::data::type::list);
  static constexpr std::pair<std::string_view, std::string_view> labels[] = {
      {"name", "Domain"}, {"ratio7", "7 days"}, {"ratio", "Range"}, {"failed", "Failed"}, {"newest", "Newest report"}};
  for (const auto& [value, label] : labels) {
    mu::data s;
    put(s, "label", std::string(label));
    put(s, "href", link("/", {{"q", std::string(name_filter)}, {"sort", value == "name" ? "" : std::string(value)},
                             {"days", days == "30" ? "" : days}}));
    put(s, "current", (sort.empty() ? "name" : sort) == value);
    append(sorts, std::move(s));
  }
  put(data, "sorts", std::move(sorts));
  return page("domains.mustache", "Domains", std::move(data), frame);
}

std::string domain_page(std::string_view json, const Frame& frame) {
  const element doc = parse(json);
  const std::string domain = text(doc, "domain"), days = text(doc, "days"), from = text(doc, "from");
  mu::data data;
  put(data, "domain", domain);
  put(data, "days", days);
  put(data, "from", day_of(from));
  mu::data ranges(mu::data::type::list);
  for (const char* n : {"7", "30", "90", "365"}) {
    mu::data r;
    put(r, "label", std::string(n) + " days");
    put(r, "href", "/domains/" + url_encode(domain) + "?days=" + n);
    put(r, "current", days == n);
    append(ranges, std::move(r));
  }
  put(data, "ranges", ranges);
  const element summary = field(doc, "summary");
  put(data, "total", ratio_data(ratio(summary, "success_ratio")));
  put(data, "successful", grouped(number(summary, "successful_sessions")));
  put(data, "failed", grouped(number(summary, "failed_sessions")));
  // Charts: sessions per day, and failed sessions per day by result type, every day of the range
  // (zero where no report counted); the table lists the days with sessions.
  std::vector<std::string> day_list;
  std::map<std::string, std::size_t> day_index;
  const auto start = report::parse_datetime(from);
  // The API answers at most 400 days; a twin that says more (only a fuzzer writes one) is cut
  // there instead of rendering millions of days.
  const int range_days = static_cast<int>(std::clamp<std::int64_t>(number(doc, "days"), 0, 400));
  for (int k = 0; start && k < range_days; ++k) {
    day_index[day_of(report::format_datetime(start->epoch + std::int64_t{k} * 86400))] = day_list.size();
    day_list.push_back(day_of(report::format_datetime(start->epoch + std::int64_t{k} * 86400)));
  }
  const std::size_t n = day_list.size();
  std::vector<std::int64_t> ok(n, 0), failed(n, 0);
  std::map<std::string, std::vector<std::int64_t>> by_type;
  mu::data table(mu::data::type::list);
  for (const auto p : items(field(doc, "timeseries"), "points")) {
    const auto at = day_index.find(day_of(text(p, "time")));
    if (at == day_index.end()) continue;
    const std::size_t i = at->second;
    ok[i] += number(p, "successful_sessions");
    failed[i] += number(p, "failed_sessions");
    object types;
    if (!field(p, "by_result_type").get_object().get(types))
      for (const auto t : types) {
        auto& v = by_type[std::string(t.key)];
        v.resize(n, 0);
        std::int64_t x = 0;
        if (!t.value.get_int64().get(x)) v[i] += x;
      }
    mu::data row;
    put(row, "day", day_list[i]);
    put(row, "successful", grouped(ok[i]));
    put(row, "failed", grouped(failed[i]));
    put(row, "ratio", ratio_data(ok[i] + failed[i] ? std::optional<double>(static_cast<double>(ok[i]) /
                                                                          static_cast<double>(ok[i] + failed[i]))
                                                  : std::nullopt));
    append(table, std::move(row));
  }
  put(data, "daily", table);
  put(data, "sessions_chart", bar_chart(day_list, {{"successful", "ok", ok}, {"failed", "failed", failed}}, "Sessions per day"));
  std::vector<Series> types;
  int k = 0;
  for (auto& [name, values] : by_type) {
    values.resize(n, 0);
    types.push_back({name, "rt" + std::to_string(k++ % 6), values});
  }
  put(data, "has_failures", !types.empty());
  put(data, "failures_chart", bar_chart(day_list, types, "Failed sessions per day by result type"));
  // Breakdowns, each linking to the matching reports.
  const std::string from_day = day_of(from);
  put(data, "results", list_of(items(summary, "by_result_type"), [&](element r) { return result_row(r, domain, from_day); }));
  put(data, "hosts", list_of(items(summary, "by_mx_host"), [&](element r) {
        mu::data x;
        const std::string host = text(r, "mx_host");
        put(x, "name", host.empty() ? "(not reported)" : host);
        put(x, "sessions", grouped(number(r, "sessions")));
        put(x, "href", host.empty() ? std::string() : link("/reports", {{"domain", domain}, {"mx_host", host}, {"from", from_day}}));
        return x;
      }));
  put(data, "organizations", list_of(items(summary, "by_organization"), [&](element r) {
        mu::data x;
        put(x, "name", text(r, "organization_name"));
        put(x, "successful", grouped(number(r, "successful_sessions")));
        put(x, "failed", grouped(number(r, "failed_sessions")));
        put(x, "ratio", ratio_data(ratio(r, "success_ratio")));
        put(x, "href", link("/reports", {{"domain", domain}, {"organization", text(r, "organization_name")}, {"from", from_day}}));
        return x;
      }));
  // Posture and policy history.
  const element posture = field(doc, "posture");
  put(data, "monitored", present(posture));
  if (present(posture)) {
    put(data, "checked_at", text(posture, "checked_at"));
    put(data, "complete", flag(posture, "complete"));
    mu::data findings(mu::data::type::list);
    for (const auto f : items(posture, "findings")) {
      mu::data x = fields_of(f, {"finding", "severity", "subject", "detail", "since"});
      put(x, "hint", finding_hint(text(f, "finding")));
      append(findings, std::move(x));
    }
    put(data, "findings", findings);
    put(data, "no_findings", items(posture, "findings").size() == 0);
  }
  mu::data policies(mu::data::type::list);
  for (const auto p : items(field(doc, "policies"), "policies")) {
    mu::data x;
    for (const char* key : {"sts_id", "mode", "max_age", "first_seen", "last_seen"}) put(x, key, text(p, key));
    put(x, "mx", joined(p, "mx"));
    append(policies, std::move(x));
  }
  put(data, "policies", policies);
  const element readiness = field(doc, "readiness");
  put(data, "readiness", present(readiness) ? readiness_data(readiness) : mu::data(false));
  put(data, "rollout", present(field(doc, "rollout")) ? rollout_data(field(doc, "rollout")) : mu::data(false));
  put(data, "reports", list_of(items(field(doc, "reports"), "reports"), report_row));
  put(data, "all_reports", link("/reports", {{"domain", domain}}));
  return page("domain.mustache", domain, std::move(data), frame);
}

std::string report_page(std::string_view json, const Frame& frame) {
  const element doc = parse(json);
  const element report = field(doc, "report");
  const element raw = field(doc, "raw_message");
  mu::data data;
  put(data, "id", text(doc, "id"));
  put(data, "organization", text(report, "organization-name"));
  put(data, "report_id", text(report, "report-id"));
  put(data, "contact", text(report, "contact-info"));
  put(data, "start", text(field(report, "date-range"), "start-datetime"));
  put(data, "end", text(field(report, "date-range"), "end-datetime"));
  put(data, "stored_at", text(doc, "stored_at"));
  put(data, "error", text(doc, "error"));
  mu::data quirks(mu::data::type::list);
  for (const auto q : items(doc, "quirks")) {
    mu::data x;
    put(x, "name", text(q));
    if (const auto known = report::quirk_from_string(text(q)))
      put(x, "description", std::string(report::all_quirks()[static_cast<std::size_t>(*known)].description));
    append(quirks, std::move(x));
  }
  put(data, "quirks", quirks);
  put(data, "has_quirks", items(doc, "quirks").size() > 0);
  put(data, "transport", text(raw, "transport"));
  put(data, "received_at", text(raw, "received_at"));
  put(data, "size", grouped(number(raw, "size")));
  put(data, "sha256", text(raw, "sha256"));
  put(data, "envelope", rows_of(field(raw, "source")));
  put(data, "message", rows_of(field(report, "source")));
  const element dkim = field(raw, "dkim");
  put(data, "dkim", rows_of(dkim));
  put(data, "has_dkim", present(dkim));
  put(data, "raw_href", "/api/v1/messages/" + text(raw, "id") + "/raw");
  mu::data drift(mu::data::type::list);
  for (const auto d : items(doc, "policy_drift")) {
    mu::data x;
    for (const char* key : {"position", "policy_type", "policy_domain", "state", "last_published"}) put(x, key, text(d, key));
    put(x, "beyond_max_age", flag(d, "beyond_max_age"));
    append(drift, std::move(x));
  }
  put(data, "drift", drift);
  mu::data policies(mu::data::type::list);
  for (const auto p : items(report, "policies")) {
    const element policy = field(p, "policy");
    mu::data x;
    put(x, "type", text(policy, "policy-type"));
    put(x, "domain", text(policy, "policy-domain"));
    std::string lines;
    for (const auto l : items(policy, "policy-string")) lines += text(l) + "\n";
    put(x, "policy_string", lines);
    put(x, "mx", joined(policy, "mx-host"));
    put(x, "successful", grouped(number(field(p, "summary"), "total-successful-session-count")));
    put(x, "failed", grouped(number(field(p, "summary"), "total-failure-session-count")));
    mu::data details(mu::data::type::list);
    for (const auto f : items(p, "failure-details")) {
      mu::data y;
      put(y, "result_type", text(f, "result-type"));
      put(y, "hint", std::string(report::result_type_hint(text(f, "result-type"))));
      for (const char* key : {"sending-mta-ip", "receiving-mx-hostname", "receiving-mx-helo", "receiving-ip",
                              "failure-reason-code", "additional-information"}) {
        std::string name = key;
        std::replace(name.begin(), name.end(), '-', '_');
        put(y, name, text(f, key));
      }
      put(y, "count", grouped(number(f, "failed-session-count")));
      append(details, std::move(y));
    }
    put(x, "details", details);
    put(x, "has_details", items(p, "failure-details").size() > 0);
    append(policies, std::move(x));
  }
  put(data, "policies", policies);
  return page("report.mustache", "Report " + text(doc, "id"), std::move(data), frame);
}

namespace {

// The link to the next page of a listing: its query with the cursor of the answer.
std::string next_link(std::string_view path, std::string_view query, element doc) {
  const std::string cursor = text(doc, "next_cursor");
  if (cursor.empty()) return "";
  return std::string(path) + "?" + std::string(query) + (query.empty() ? "" : "&") + "cursor=" + url_encode(cursor);
}

}  // namespace

std::string reports_page(std::string_view json, const Frame& frame, std::string_view query) {
  const element doc = parse(json);
  mu::data data;
  put(data, "reports", list_of(items(doc, "reports"), report_row));
  put(data, "empty", items(doc, "reports").size() == 0);
  put(data, "next", next_link("/reports", query, doc));
  return page("reports.mustache", "Reports", std::move(data), frame);
}

std::string rejected_page(std::string_view json, const Frame& frame, std::string_view query) {
  const element doc = parse(json);
  mu::data list(mu::data::type::list);
  for (const auto r : items(doc, "rejected")) {
    mu::data x = fields_of(r, {"id", "received_at", "transport", "reason", "detail"});
    if (const auto reason = report::reason_from_string(text(r, "reason")))
      put(x, "description", std::string(report::all_reasons()[static_cast<std::size_t>(*reason)].description));
    put(x, "size", grouped(number(r, "size")));
    put(x, "raw_href", "/api/v1/rejected/" + text(r, "id") + "/raw");
    append(list, std::move(x));
  }
  mu::data data;
  put(data, "rejected", list);
  put(data, "empty", items(doc, "rejected").size() == 0);
  put(data, "next", next_link("/rejected", query, doc));
  return page("rejected.mustache", "Rejected inputs", std::move(data), frame);
}

std::string status_page(std::string_view json, const Frame& frame) {
  const element doc = parse(json);
  mu::data data;
  put(data, "database", text(doc, "database"));
  put(data, "database_up", text(doc, "database") == "up");
  put(data, "days", text(doc, "days"));
  put(data, "pending", text(doc, "migrations_pending"));
  put(data, "inputs", list_of(items(doc, "inputs"), [](element r) {
        mu::data x;
        for (const char* key : {"transport", "outcome", "newest"}) put(x, key, text(r, key));
        put(x, "messages", grouped(number(r, "messages")));
        put(x, "bytes", grouped(number(r, "bytes")));
        return x;
      }));
  put(data, "rejections", list_of(items(doc, "rejections"), [](element r) {
        mu::data x;
        put(x, "reason", text(r, "reason"));
        put(x, "messages", grouped(number(r, "messages")));
        put(x, "href", link("/rejected", {{"reason", text(r, "reason")}}));
        return x;
      }));
  put(data, "dkim", list_of(items(doc, "dkim"), [](element r) {
        mu::data x;
        put(x, "result", text(r, "result").empty() ? "unverified" : text(r, "result"));
        put(x, "messages", grouped(number(r, "messages")));
        return x;
      }));
  return page("status.mustache", "Ingestion status", std::move(data), frame);
}

std::string login_page(std::string_view next, std::string_view csrf, std::string_view message, bool tokens_configured) {
  mu::data data;
  put(data, "next", std::string(next));
  put(data, "csrf", std::string(csrf));
  put(data, "message", std::string(message));
  put(data, "tokens_configured", tokens_configured);
  return page("login.mustache", "Log in", std::move(data), Frame{});
}

std::string error_page(unsigned status, std::string_view message, const Frame& frame) {
  mu::data data;
  put(data, "status", std::to_string(status));
  put(data, "message", std::string(message));
  return page("error.mustache", "Error " + std::to_string(status), std::move(data), frame);
}

}  // namespace tlsrpt::web
