// The IMAP client's response reader and parsers: any bytes from a server, in two chunkings.
// Reading either fails with a reason or yields responses within the limits; the parsers never
// read out of bounds.
#include <cstdlib>
#include <string>

#include "common.hpp"
#include "imap/protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tlsrpt::imap;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string whole_text;
  bool first = true;
  for (std::size_t chunk : {size + 1, std::size_t{3}}) {
    Reader reader({256, 4096});
    std::string text;
    for (std::size_t i = 0; i < input.size(); i += chunk) {
      if (!reader.feed(input.substr(i, chunk))) {
        if (reader.error().empty()) std::abort();
        break;
      }
    }
    while (auto r = reader.next()) {
      if (r->text.size() > 256) std::abort();
      for (const auto& l : r->literals)
        if (l.size() > 4096) std::abort();
      text += r->text + "\n";
      (void)tag_of(r->text);
      (void)status_of(r->text);
      (void)capabilities(r->text);
      (void)response_code_number(r->text, "UIDVALIDITY");
      if (search_uids(r->text, 100).size() > 100) std::abort();
      (void)list_delimiter(r->text);
      if (auto uid = fetch_uid(r->text); uid && *uid == 0) std::abort();
      (void)is_exists(r->text);
    }
    if (first) whole_text = text;
    else if (reader.error().empty() && text != whole_text) std::abort();  // chunking must not matter
    first = false;
  }
  return 0;
}
