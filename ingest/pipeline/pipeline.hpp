// The pipeline: raw bytes (a message, a bare .json or .json.gz) -> reports, or a rejection.
//
// Purpose: the one entry point every receiver (CLI, SMTP, IMAP, HTTPS) hands its bytes to, and
// the main fuzz target. Pure: no I/O, no clocks, no globals but per-thread parser buffers.
// Trusts: nothing; all limits come from report::Limits.
// Errors: a Result with no reports carries the rejection of the input; a Result with reports
// may also list report parts that were rejected (the message is accepted for its good parts).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "mime/mime.hpp"
#include "report/report.hpp"

namespace tlsrpt::pipeline {

enum class InputKind { message, json, gzip };
std::string_view to_string(InputKind kind);

// What the input looks like, from its first bytes (never from its name).
InputKind detect(std::string_view input);

struct Origin {
  InputKind kind = InputKind::message;
  std::string part;               // MIME path of the report part; empty for a bare file or top body
  std::string filename;           // attachment file name, if any
  std::string media_type;         // as declared, for a MIME part
  std::string transfer_encoding;  // for a MIME part
  bool gzip = false;              // the report was gzip-compressed
  mime::MessageHeaders headers;   // of the message that carried the report
};

struct Parsed {
  report::Report report;
  Origin origin;
};

struct Result {
  std::vector<Parsed> reports;
  // With no reports: why the input was rejected (exactly one entry). With reports: report parts
  // of the same message that were rejected.
  std::vector<report::Rejection> rejections;
  bool accepted() const { return !reports.empty(); }
};

// `name` is the input's file name (a hint for a missing policy-domain); it may be empty.
// `mx_of`: the MX hosts tlsrpt knows of (report::DomainHints); may be empty.
Result parse(std::string_view input, std::string_view name, const report::Limits& limits, const report::MxOf& mx_of = {});

// Splits an mbox file ("From " lines) into its messages; anything else is returned whole.
std::vector<std::string_view> split_mbox(std::string_view input);

}  // namespace tlsrpt::pipeline
