// Normalised JSON output of a parsed report (what `tlsrpt parse` prints, one object per line).
//
// RFC 8460 key names; mx-host and policy-string always arrays; date-times in UTC with Z;
// counts as integers; every optional field present, null when absent; "quirks" lists the
// tolerated deviations; "source" says where the report came from.
#pragma once

#include <string>
#include <string_view>

#include "pipeline/pipeline.hpp"

namespace tlsrpt::pipeline {

void append_json(std::string& out, const Parsed& parsed, std::string_view input_name, bool pretty);

// JSON string escaping (RFC 8259), for text that is already valid UTF-8.
void append_json_string(std::string& out, std::string_view text);

// A JSON string literal for untrusted bytes (SMTP commands, file names) that PostgreSQL's jsonb
// accepts whatever they are: bytes 0x80-0xFF become \u0080-\u00FF (read as Latin-1), U+0000
// (refused by jsonb) becomes U+FFFD.
std::string json_literal_for_bytes(std::string_view bytes);

}  // namespace tlsrpt::pipeline
