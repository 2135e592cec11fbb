# Runs `tlsrpt parse INPUT` and compares stdout with EXPECTED byte for byte.
execute_process(COMMAND ${TLSRPT} parse ${INPUT} OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "tlsrpt parse ${INPUT} exited ${rc}")
endif()
file(READ ${EXPECTED} expected)
if(NOT out STREQUAL expected)
  file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/parse_output.actual.jsonl "${out}")
  message(FATAL_ERROR "output differs from ${EXPECTED}; actual output written to "
    "${CMAKE_CURRENT_BINARY_DIR}/parse_output.actual.jsonl (diff them)")
endif()
message(STATUS "output matches ${EXPECTED}")
