#include "pipeline/output.hpp"

#include "json/text.hpp"

#include <optional>
#include <vector>

namespace tlsrpt::pipeline {
namespace {

using json::Writer;

}  // namespace


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
