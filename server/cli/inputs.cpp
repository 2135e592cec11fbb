#include "cli/inputs.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "pipeline/pipeline.hpp"

namespace tlsrpt::cli {
namespace {

namespace fs = std::filesystem;

report::Rejection too_large(std::uint64_t size, const report::Limits& limits) {
  return {report::Reason::message_too_large,
          std::to_string(size) + " bytes (limit " + std::to_string(limits.message_size) + ")"};
}

void visit_bytes(const std::string& name, std::string_view bytes, const InputVisitor& v) {
  const auto messages = pipeline::split_mbox(bytes);
  if (messages.size() == 1 && messages[0].size() == bytes.size()) {
    v.input(name, bytes);
    return;
  }
  for (std::size_t i = 0; i < messages.size(); ++i) v.input(name + "#" + std::to_string(i + 1), messages[i]);
}

void visit_stdin(const report::Limits& limits, const InputVisitor& v) {
  std::string data;
  char buf[65536];
  std::size_t n;
  // An mbox on stdin may hold many messages; read up to a generous multiple of the limit.
  const std::uint64_t cap = limits.message_size * 64;
  while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) {
    data.append(buf, n);
    if (data.size() > cap) {
      v.too_large("-", too_large(data.size(), limits));
      return;
    }
  }
  if (std::ferror(stdin)) {
    v.error("-", std::strerror(errno));
    return;
  }
  visit_bytes("-", data, v);
}

void visit_file(const fs::path& path, const report::Limits& limits, const InputVisitor& v) {
  const std::string name = path.string();
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) {
    v.error(name, ec.message());
    return;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    v.error(name, std::strerror(errno));
    return;
  }
  char head[5] = {};
  in.read(head, 5);
  const bool mbox = in.gcount() == 5 && std::string_view(head, 5) == "From ";
  if (size > limits.message_size && !mbox) {
    v.too_large(name, too_large(size, limits));
    return;
  }
  std::string data(size, '\0');
  in.seekg(0);
  in.read(data.data(), static_cast<std::streamsize>(size));
  data.resize(static_cast<std::size_t>(in.gcount()));
  if (in.bad()) {
    v.error(name, std::strerror(errno));
    return;
  }
  visit_bytes(name, data, v);
}

bool stopped(const InputVisitor& v) { return v.stop && v.stop(); }

}  // namespace

void print_rejection(const std::string& name, const report::Rejection& r, std::string_view suffix) {
  const std::string_view reason = report::to_string(r.reason);
  std::fprintf(stderr, "%s: rejected: %.*s: %s%.*s\n", name.c_str(), static_cast<int>(reason.size()), reason.data(),
               r.detail.c_str(), static_cast<int>(suffix.size()), suffix.data());
}

void visit_inputs(const std::vector<std::string>& paths, const report::Limits& limits,
                  const InputVisitor& visitor) {
  for (const auto& p : paths) {
    if (stopped(visitor)) return;
    if (p == "-") {
      visit_stdin(limits, visitor);
      continue;
    }
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<fs::path> files;
      for (auto it = fs::recursive_directory_iterator(p, ec); !ec && it != fs::recursive_directory_iterator();
           it.increment(ec)) {
        if (it->is_regular_file(ec)) files.push_back(it->path());
      }
      if (ec) visitor.error(p, ec.message());
      std::sort(files.begin(), files.end());
      for (const auto& f : files) {
        if (stopped(visitor)) return;
        visit_file(f, limits, visitor);
      }
    } else {
      visit_file(p, limits, visitor);
    }
  }
}

}  // namespace tlsrpt::cli
