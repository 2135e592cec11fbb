#include "pipeline/output.hpp"

#include <optional>
#include <vector>

namespace tlsrpt::pipeline {
namespace {

// A small streaming writer: keys and values in order, optional indentation.
class Writer {
 public:
  Writer(std::string& out, bool pretty) : out_(out), pretty_(pretty) {}

  void begin_object() { open('{'); }
  void end_object() { close('}'); }
  void begin_array() { open('['); }
  void end_array() { close(']'); }

  template <class T>
  void field(std::string_view k, const T& v) {
    key(k);
    value(v);
  }
  void optional_field(std::string_view k, std::string_view v) {
    key(k);
    optional(v);
  }
  void key(std::string_view k) {
    separator();
    append_json_string(out_, k);
    out_ += pretty_ ? ": " : ":";
    after_key_ = true;
  }
  void value(std::string_view s) {
    separator();
    append_json_string(out_, s);
  }
  void value(const std::string& s) { value(std::string_view(s)); }
  void value(const char* s) { value(std::string_view(s)); }
  void value(std::optional<std::string_view> s) {
    if (s) value(*s);
    else null();
  }
  void value(const std::optional<std::string>& s) {
    if (s) value(std::string_view(*s));
    else null();
  }
  void value(std::int64_t n) {
    separator();
    out_ += std::to_string(n);
  }
  void boolean(bool b) {
    separator();
    out_ += b ? "true" : "false";
  }
  void null() {
    separator();
    out_ += "null";
  }
  void optional(std::string_view s) {
    if (s.empty()) null();
    else value(s);
  }
  void strings(const std::vector<std::string>& list) {
    begin_array();
    for (const auto& s : list) value(std::string_view(s));
    end_array();
  }

 private:
  void separator() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (!first_.empty()) {
      if (!first_.back()) out_ += ',';
      first_.back() = false;
      newline();
    }
  }
  void newline() {
    if (!pretty_) return;
    out_ += '\n';
    out_.append(2 * first_.size(), ' ');
  }
  void open(char c) {
    separator();
    out_ += c;
    first_.push_back(true);
  }
  void close(char c) {
    const bool empty = first_.back();
    first_.pop_back();
    if (!empty) newline();
    out_ += c;
  }

  std::string& out_;
  bool pretty_;
  bool after_key_ = false;
  std::vector<bool> first_;
};

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  std::size_t run = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(text.substr(run, i - run));
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 15];
    }
  }
  out.append(text.substr(run));
  out += '"';
}

std::string json_literal_for_bytes(std::string_view bytes) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "\"";
  for (const char ch : bytes) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == 0) {
      out += "\\ufffd";
    } else if (c < 0x20 || c >= 0x80) {
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      if (c == '"' || c == '\\') out += '\\';
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

void append_json(std::string& out, const Parsed& parsed, std::string_view input_name, bool pretty) {
  const report::Report& r = parsed.report;
  Writer w(out, pretty);
  w.begin_object();
  w.field("organization-name", r.organization_name);
  w.key("date-range");
  w.begin_object();
  w.field("start-datetime", report::format_datetime(r.start_datetime));
  w.field("end-datetime", report::format_datetime(r.end_datetime));
  w.end_object();
  w.field("contact-info", r.contact_info);
  w.field("report-id", r.report_id);
  w.key("policies");
  w.begin_array();
  for (const auto& p : r.policies) {
    w.begin_object();
    w.key("policy");
    w.begin_object();
    w.field("policy-type", p.policy_type);
    w.key("policy-string");
    w.strings(p.policy_string);
    w.field("policy-domain", p.policy_domain);
    w.key("mx-host");
    w.strings(p.mx_host);
    w.end_object();
    w.key("summary");
    w.begin_object();
    w.field("total-successful-session-count", p.total_successful_session_count);
    w.field("total-failure-session-count", p.total_failure_session_count);
    w.end_object();
    w.key("failure-details");
    w.begin_array();
    for (const auto& fd : p.failure_details) {
      w.begin_object();
      using F = report::FailureDetail;
      w.field("result-type", fd.get(F::result_type));
      w.field("sending-mta-ip", fd.optional(F::sending_mta_ip));
      w.field("receiving-mx-hostname", fd.optional(F::receiving_mx_hostname));
      w.field("receiving-mx-helo", fd.optional(F::receiving_mx_helo));
      w.field("receiving-ip", fd.optional(F::receiving_ip));
      w.field("failed-session-count", fd.failed_session_count);
      w.field("additional-information", fd.optional(F::additional_information));
      w.field("failure-reason-code", fd.optional(F::failure_reason_code));
      w.end_object();
    }
    w.end_array();
    w.end_object();
  }
  w.end_array();
  w.key("quirks");
  w.begin_array();
  r.quirks.for_each([&w](report::Quirk q) { w.value(report::to_string(q)); });
  w.end_array();
  const Origin& o = parsed.origin;
  w.key("source");
  w.begin_object();
  w.field("input", input_name);
  w.field("kind", to_string(o.kind));
  w.key("gzip");
  w.boolean(o.gzip);
  w.optional_field("part", o.part);
  w.optional_field("filename", o.filename);
  w.optional_field("media-type", o.media_type);
  w.optional_field("transfer-encoding", o.transfer_encoding);
  w.optional_field("tls-report-domain", o.headers.tls_report_domain);
  w.optional_field("tls-report-submitter", o.headers.tls_report_submitter);
  w.optional_field("subject", o.headers.subject);
  w.optional_field("message-id", o.headers.message_id);
  w.end_object();
  w.end_object();
}

}  // namespace tlsrpt::pipeline
