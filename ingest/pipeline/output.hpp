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

// (JSON strings are escaped by json/text.hpp, the one escaper.)

}  // namespace tlsrpt::pipeline
