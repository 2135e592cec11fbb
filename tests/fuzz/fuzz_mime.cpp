// MIME reader: any bytes -> entity tree or a rejection; bodies must lie within the input.
#include <cstdlib>
#include <variant>

#include "common.hpp"
#include "mime/mime.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tlsrpt;
  const std::string_view in = fuzz::view(data, size);
  auto r = mime::parse(in, fuzz::limits());
  if (auto* m = std::get_if<mime::Message>(&r)) {
    if (m->entities.empty() || m->entities.size() > fuzz::limits().mime_parts) std::abort();
    for (const auto& e : m->entities) {
      const bool in_input = e.body.data() >= in.data() && e.body.data() + e.body.size() <= in.data() + in.size();
      bool in_storage = false;
      for (const auto& s : m->storage)
        in_storage |= e.body.data() >= s.data() && e.body.data() + e.body.size() <= s.data() + s.size();
      if (!e.body.empty() && !in_input && !in_storage) std::abort();
      if (e.depth > fuzz::limits().mime_depth || e.message >= m->messages.size()) std::abort();
    }
  }
  return 0;
}
