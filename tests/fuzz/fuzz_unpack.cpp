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
  if (!unpack::gunzip(in, out, fuzz::limits(), q) && out.size() > fuzz::limits().inflated_size) std::abort();
  return 0;
}
