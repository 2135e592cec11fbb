// Transfer decoders and gunzip: outputs never exceed their caps.
#include <cstdlib>
#include <string>

#include "common.hpp"
#include "unpack/unpack.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace tlsrpt;
  const std::string_view in = fuzz::view(data, size);
  std::string out;
  if (!unpack::decode_base64(in, out, 4096) && out.size() > 4096) std::abort();
  if (!unpack::decode_quoted_printable(in, out, 4096) && out.size() > 4096) std::abort();
  report::QuirkSet q;
  std::size_t produced = 0;
  if (!unpack::gunzip(in, out, produced, fuzz::limits(), q) &&
      (produced > fuzz::limits().inflated_size || out.size() < produced + unpack::json_padding))
    std::abort();
  return 0;
}
