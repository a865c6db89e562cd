# Helpers that register tinescale's unit tests and fuzz targets with ctest,
# wherever their sources live (tests/, or beside a plugin that builds them).
#
#   ts_add_unit_test(NAME SOURCES src... [LIBS lib...] [INCLUDES dir...])
#     an executable NAME and the ctest unit.NAME (label unit)
#   ts_add_fuzz_test(NAME [RUNS N] SOURCES src... [LIBS lib...] [INCLUDES dir...])
#     a libFuzzer target NAME (needs TS_FUZZ) and the ctest fuzz.NAME (label
#     fuzz) running N (default TS_FUZZ_RUNS) inputs over tests/fuzz/corpus/NAME; new
#     inputs go to a scratch directory in the build tree, never the sources.
# Both do nothing when TS_TESTS is OFF (an install-only build).

function(ts_add_unit_test name)
  if(NOT TS_TESTS)
    return()
  endif()
  cmake_parse_arguments(T "" "" "SOURCES;LIBS;INCLUDES" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_include_directories(${name} PRIVATE ${T_INCLUDES})
  target_link_libraries(${name} PRIVATE ${T_LIBS})
  add_test(NAME unit.${name} COMMAND ${name})
  set_tests_properties(unit.${name} PROPERTIES LABELS unit TIMEOUT 300)
endfunction()

function(ts_add_fuzz_test name)
  if(NOT TS_TESTS)
    return()
  endif()
  cmake_parse_arguments(T "" "RUNS" "SOURCES;LIBS;INCLUDES" ${ARGN})
  if(NOT T_RUNS)
    set(T_RUNS ${TS_FUZZ_RUNS})
  endif()
  add_executable(${name} ${T_SOURCES})
  target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  target_include_directories(${name} PRIVATE ${T_INCLUDES})
  target_link_libraries(${name} PRIVATE ${T_LIBS})
  set(corpus ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus/${name})
  set(scratch ${CMAKE_CURRENT_BINARY_DIR}/corpus-${name})
  file(MAKE_DIRECTORY ${corpus} ${scratch})
  add_test(NAME fuzz.${name}
    COMMAND ${name} -runs=${T_RUNS} -max_len=4096 ${scratch} ${corpus})
  set_tests_properties(fuzz.${name} PROPERTIES LABELS fuzz TIMEOUT 600)
endfunction()
