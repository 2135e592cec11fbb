# One place for the warning flags of our own code (third-party headers are system headers).
add_library(tlsrpt_warnings INTERFACE)
add_library(tlsrpt::warnings ALIAS tlsrpt_warnings)
target_compile_options(tlsrpt_warnings INTERFACE
  -Wall -Wextra -Wshadow -Wnon-virtual-dtor -Wcast-align -Wunused -Woverloaded-virtual
  -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough)
if(TLSRPT_WERROR)
  target_compile_options(tlsrpt_warnings INTERFACE -Werror)
endif()
