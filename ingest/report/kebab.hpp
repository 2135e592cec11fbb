// Kebab-case names for enum identifiers at compile time ("mx_cert_expired" -> "mx-cert-expired"):
// the stable names of the closed lists (reasons, quirks, findings).
#pragma once

#include <cstddef>
#include <string_view>

namespace tlsrpt::report {

template <std::size_t N>
struct Kebab {
  char text[N] = {};
  constexpr explicit Kebab(const char (&ident)[N]) {
    for (std::size_t i = 0; i < N; ++i) text[i] = ident[i] == '_' ? '-' : ident[i];
  }
  constexpr std::string_view view() const { return {text, N - 1}; }
};

}  // namespace tlsrpt::report
