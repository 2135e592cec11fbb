#include "pipeline/pipeline.hpp"

#include <algorithm>
#include <variant>

#include "json/reader.hpp"
#include "unpack/unpack.hpp"

namespace tlsrpt::pipeline {
namespace {

using report::Quirk;
using report::QuirkSet;
using report::Reason;
using report::Rejection;

std::string_view skip_space_and_bom(std::string_view s) {
  if (s.starts_with("\xEF\xBB\xBF")) s.remove_prefix(3);
  const auto b = s.find_first_not_of(" \t\r\n");
  return b == std::string_view::npos ? std::string_view() : s.substr(b);
}

bool looks_like_json(std::string_view s) {
  s = skip_space_and_bom(s);
  return !s.empty() && (s[0] == '{' || s[0] == '[');
}

bool ends_with_ci(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  return std::equal(suffix.begin(), suffix.end(), s.end() - static_cast<long>(suffix.size()),
                    [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
}

std::string_view basename(std::string_view path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// Report JSON (or gzip of it) -> report.
std::variant<report::Report, Rejection> read_payload(std::string_view payload, bool& was_gzip,
                                                     const report::Limits& limits) {
  was_gzip = unpack::is_gzip(payload);
  if (!was_gzip) return json::read_report(payload, limits);
  // The inflated text, per thread: reused, never zero-filled again (see unpack::gunzip).
  thread_local std::string buf;
  report::QuirkSet gzip_quirks;
  std::size_t produced = 0;
  if (auto r = unpack::gunzip(payload, buf, produced, limits, gzip_quirks)) return *r;
  auto result = json::read_padded_report(std::string_view(buf.data(), produced), limits);
  if (buf.size() > 8 * report::MiB) std::string().swap(buf);  // do not keep a huge buffer per thread
  if (auto* rep = std::get_if<report::Report>(&result)) rep->quirks.merge(gzip_quirks);
  return result;
}

// How a MIME leaf is recognised as a report part.
struct Candidate {
  bool is_candidate = false;
  QuirkSet quirks;
  int declared = 0;  // 1: declared gzip, 2: declared JSON, 0: unknown (sniffed)
};

Candidate classify(const mime::Entity& e) {
  Candidate c;
  const std::string& mt = e.media_type;
  std::string_view name = e.filename.empty() ? std::string_view(e.description) : std::string_view(e.filename);
  const bool json_name = ends_with_ci(name, ".json");
  const bool gz_name = ends_with_ci(name, ".gz") || ends_with_ci(name, ".gzip");
  c.is_candidate = true;
  if (mt == "application/tlsrpt+gzip") {
    c.declared = 1;
  } else if (mt == "application/tlsrpt+json") {
    c.declared = 2;
  } else if (mt == "application/tlsrpt") {
    c.quirks.add(Quirk::media_type_tlsrpt_no_suffix);
  } else if (mt == "application/gzip" || mt == "application/x-gzip") {
    c.quirks.add(Quirk::media_type_gzip);
    c.declared = 1;
  } else if (mt == "application/json") {
    c.quirks.add(Quirk::media_type_json);
    c.declared = 2;
  } else if ((json_name || gz_name) && !mt.starts_with("multipart/") && !mt.starts_with("message/")) {
    c.quirks.add(Quirk::media_type_by_filename);
  } else {
    c.is_candidate = false;
  }
  return c;
}

bool blank(std::string_view s) { return s.find_first_not_of(" \t\r\n") == std::string_view::npos; }

std::string part_label(const mime::Entity& e) { return e.path.empty() ? std::string("body") : "part " + e.path; }

Result parse_message(std::string_view input, std::string_view name, const report::Limits& limits,
                     const report::MxOf& mx_of) {
  Result result;
  auto parsed = mime::parse(input, limits);
  if (auto* r = std::get_if<Rejection>(&parsed)) {
    result.rejections.push_back(std::move(*r));
    return result;
  }
  const mime::Message& msg = std::get<mime::Message>(parsed);
  std::string decoded;
  std::vector<std::string> seen_payloads;  // to drop the same report attached twice
  std::string types_seen;

  for (std::size_t i = 0; i < msg.entities.size(); ++i) {
    const mime::Entity& e = msg.entities[i];
    if (e.container) continue;
    if (types_seen.size() < 200) types_seen += (types_seen.empty() ? "" : ", ") + e.media_type;
    Candidate c = classify(e);
    if (!c.is_candidate) continue;
    const std::string label = part_label(e);

    // Transfer decoding.
    std::string_view payload = e.body;
    const std::string& cte = e.transfer_encoding;
    if (cte == "base64") {
      if (auto r = unpack::decode_base64(e.body, decoded, limits.decoded_size)) {
        r->detail = label + ": " + r->detail;
        result.rejections.push_back(std::move(*r));
        continue;
      }
      payload = decoded;
    } else if (cte == "quoted-printable") {
      if (auto r = unpack::decode_quoted_printable(e.body, decoded, limits.decoded_size)) {
        r->detail = label + ": " + r->detail;
        result.rejections.push_back(std::move(*r));
        continue;
      }
      payload = decoded;
    } else if (cte != "7bit" && cte != "8bit" && cte != "binary") {
      result.rejections.push_back(Rejection{Reason::bad_transfer_encoding,
                                            label + ": unknown Content-Transfer-Encoding " +
                                                report::printable(cte)});
      continue;
    } else if (payload.size() > limits.decoded_size) {
      result.rejections.push_back(Rejection{Reason::decoded_too_large,
                                            label + ": exceeds " + std::to_string(limits.decoded_size) + " bytes"});
      continue;
    }

    const bool gz = unpack::is_gzip(payload);
    if ((c.declared == 1 && !gz) || (c.declared == 2 && gz)) c.quirks.add(Quirk::media_type_mismatch);
    if (std::find(seen_payloads.begin(), seen_payloads.end(), payload) != seen_payloads.end()) {
      if (!result.reports.empty()) result.reports.back().report.quirks.add(Quirk::duplicate_report_part);
      continue;
    }
    seen_payloads.emplace_back(payload);

    bool was_gzip = false;
    auto rep = read_payload(payload, was_gzip, limits);
    if (auto* r = std::get_if<Rejection>(&rep)) {
      r->detail = label + ": " + r->detail;
      result.rejections.push_back(std::move(*r));
      continue;
    }
    report::Report& report = std::get<report::Report>(rep);
    report.quirks.merge(c.quirks);

    // Where the report sits in the message.
    const mime::MessageHeaders& headers = msg.messages[e.message];
    if (e.message != 0) report.quirks.add(Quirk::forwarded_message);
    if (e.parent == mime::Entity::npos || msg.entities[e.parent].media_type == "message/rfc822") {
      report.quirks.add(Quirk::single_part_message);
    } else {
      const mime::Entity& parent = msg.entities[e.parent];
      if (parent.media_type != "multipart/report") report.quirks.add(Quirk::not_multipart_report);
      for (std::size_t j = e.parent + 1; j < msg.entities.size(); ++j) {
        const mime::Entity& sib = msg.entities[j];
        if (sib.parent != e.parent) continue;
        if (j < i && sib.media_type == "text/html") report.quirks.add(Quirk::html_body);
        if (j > i && !sib.container && blank(sib.body)) report.quirks.add(Quirk::trailing_empty_part);
      }
    }

    report::DomainHints hints;
    hints.header = headers.tls_report_domain.empty() ? msg.messages[0].tls_report_domain : headers.tls_report_domain;
    hints.subject = headers.subject.empty() ? msg.messages[0].subject : headers.subject;
    hints.filename = e.filename.empty() ? std::string(basename(name)) : e.filename;
    hints.mx_of = mx_of;
    if (auto r = report::finish(report, hints, limits)) {
      r->detail = label + ": " + r->detail;
      result.rejections.push_back(std::move(*r));
      continue;
    }

    Parsed p;
    p.report = std::move(report);
    p.origin.kind = InputKind::message;
    p.origin.part = e.path;
    p.origin.filename = e.filename;
    p.origin.media_type = e.media_type;
    p.origin.transfer_encoding = e.transfer_encoding;
    p.origin.gzip = was_gzip;
    p.origin.headers = headers;
    result.reports.push_back(std::move(p));
  }

  if (result.reports.empty()) {
    if (result.rejections.empty())
      result.rejections.push_back(Rejection{Reason::no_report_part, "parts seen: " + types_seen});
    else
      result.rejections.resize(1);  // the first failing report part explains the rejection
  } else if (!result.rejections.empty()) {
    for (auto& p : result.reports) p.report.quirks.add(Quirk::report_part_rejected);
  }
  return result;
}

}  // namespace

std::string_view to_string(InputKind kind) {
  switch (kind) {
    case InputKind::message: return "message";
    case InputKind::json: return "json";
    case InputKind::gzip: return "gzip";
  }
  return "message";
}

InputKind detect(std::string_view input) {
  if (unpack::is_gzip(input)) return InputKind::gzip;
  if (looks_like_json(input)) return InputKind::json;
  return InputKind::message;
}

Result parse(std::string_view input, std::string_view name, const report::Limits& limits, const report::MxOf& mx_of) {
  Result result;
  if (input.size() > limits.message_size) {
    result.rejections.push_back(Rejection{Reason::message_too_large,
                                          std::to_string(input.size()) + " bytes (limit " +
                                              std::to_string(limits.message_size) + ")"});
    return result;
  }
  if (blank(input)) {
    result.rejections.push_back(Rejection{Reason::empty_input, "no data"});
    return result;
  }
  const InputKind kind = detect(input);
  if (kind == InputKind::message) return parse_message(input, name, limits, mx_of);

  bool was_gzip = false;
  auto rep = read_payload(input, was_gzip, limits);
  if (auto* r = std::get_if<Rejection>(&rep)) {
    result.rejections.push_back(std::move(*r));
    return result;
  }
  report::Report& report = std::get<report::Report>(rep);
  report::DomainHints hints;
  hints.filename = std::string(basename(name));
  hints.mx_of = mx_of;
  if (auto r = report::finish(report, hints, limits)) {
    result.rejections.push_back(std::move(*r));
    return result;
  }
  Parsed p;
  p.report = std::move(report);
  p.origin.kind = kind;
  p.origin.gzip = was_gzip;
  result.reports.push_back(std::move(p));
  return result;
}

std::vector<std::string_view> split_mbox(std::string_view input) {
  std::vector<std::string_view> out;
  if (!input.starts_with("From ")) {
    out.push_back(input);
    return out;
  }
  // Each message starts after a "From " line at the start of the file or after a line break.
  std::size_t start = std::string_view::npos;
  std::size_t pos = 0;
  while (pos < input.size()) {
    const auto nl = input.find('\n', pos);
    const std::size_t next = nl == std::string_view::npos ? input.size() : nl + 1;
    if (input.compare(pos, 5, "From ") == 0) {
      if (start != std::string_view::npos) out.push_back(input.substr(start, pos - start));
      start = next;
    }
    pos = next;
  }
  if (start != std::string_view::npos && start < input.size()) out.push_back(input.substr(start));
  return out;
}

}  // namespace tlsrpt::pipeline
