// Reading the inputs named on a command line: files, directories (walked recursively, in name
// order), mbox files (split into messages) and stdin ("-").
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "report/limits.hpp"
#include "report/reason.hpp"

namespace tlsrpt::cli {

struct InputVisitor {
  // One message or report file: `name` is the path, with "#N" for the Nth message of an mbox.
  std::function<void(const std::string& name, std::string_view bytes)> input;
  // A file larger than limit message_size: rejected (message-too-large) without reading it.
  std::function<void(const std::string& name, const report::Rejection& rejection)> too_large;
  // A path that could not be read.
  std::function<void(const std::string& name, const std::string& error)> error;
  // Asked before each file is read: true ends the walk (interrupted, or nothing more can be used).
  std::function<bool()> stop;
};

// The one line a rejected input gets on stderr: "NAME: rejected: REASON: DETAIL[SUFFIX]".
void print_rejection(const std::string& name, const report::Rejection& rejection, std::string_view suffix = {});

void visit_inputs(const std::vector<std::string>& paths, const report::Limits& limits,
                  const InputVisitor& visitor);

}  // namespace tlsrpt::cli
