// The SMTP session: any byte stream, split into lines as the adapter does; every reply is one or
// more well-formed reply lines, and a stored message never exceeds the size limit.
#include <cstdlib>
#include <string>

#include "common.hpp"
#include "smtp/session.hpp"

namespace {
void check_reply(const std::string& r) {
  std::size_t pos = 0;
  while (pos < r.size()) {
    const auto end = r.find("\r\n", pos);
    if (end == std::string::npos || end - pos < 3) std::abort();
    for (int i = 0; i < 3; ++i)
      if (r[pos + i] < '0' || r[pos + i] > '9') std::abort();
    if (end - pos > 3 && r[pos + 3] != ' ' && r[pos + 3] != '-') std::abort();
    pos = end + 2;
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tlsrpt;
  static const smtp::Config config = [] {
    smtp::Config c;
    c.recipients = {"a@b.example", "@c.example"};
    c.tls_available = true;
    c.limits.message_size = 4096;
    return c;
  }();
  smtp::Session s(config);
  unsigned admitted = 0;  // the adapter's per-client message rate: here, every other MAIL
  s.set_admission([&admitted] { return ++admitted % 2 == 1; });
  std::string_view in = fuzz::view(data, size);
  while (!in.empty()) {
    const auto nl = in.find('\n');
    std::string_view line = in.substr(0, nl);
    in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    const bool crlf = !line.empty() && line.back() == '\r';
    if (crlf) line.remove_suffix(1);
    if (s.in_data() && line.size() > 300) {  // the adapter passes long data lines on in fragments
      s.on_data_fragment(line.substr(0, 300));
      line.remove_prefix(300);
    }
    smtp::Session::Output out = line.size() > 1000 && !s.in_data() ? s.on_overlong_line() : s.on_line(line, crlf);
    check_reply(out.reply);
    if (out.start_tls) s.tls_started();
    if (out.message_ready) {
      if (s.message().size() > config.limits.message_size) std::abort();
      check_reply(size % 2 ? s.message_accepted("1") : s.message_deferred());
    }
    if (out.close) break;
  }
  return 0;
}
