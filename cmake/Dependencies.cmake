# Every dependency comes from a Debian 12 package (see scripts/install-deps.sh).
find_package(Threads REQUIRED)
find_package(ZLIB REQUIRED)
find_package(simdjson 3 REQUIRED CONFIG)
find_package(CLI11 2 REQUIRED CONFIG)
find_package(tomlplusplus 3 REQUIRED CONFIG)

# mimetic ships neither a CMake config nor a pkg-config file.
find_path(MIMETIC_INCLUDE_DIR mimetic/mimetic.h REQUIRED)
find_library(MIMETIC_LIBRARY mimetic REQUIRED)
add_library(mimetic::mimetic UNKNOWN IMPORTED)
set_target_properties(mimetic::mimetic PROPERTIES
  IMPORTED_LOCATION "${MIMETIC_LIBRARY}"
  INTERFACE_INCLUDE_DIRECTORIES "${MIMETIC_INCLUDE_DIR}")

if(TLSRPT_BUILD_TESTS)
  find_package(doctest REQUIRED CONFIG)
endif()
