# Helpers: one static library per subsystem folder, a unit test beside its source.
if(CIVITAS_TESTS)
  find_package(GTest REQUIRED)
  include(GoogleTest)
endif()

# civitas_library(NAME SOURCES... DEPS ...)
function(civitas_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

# civitas_test(NAME SOURCES... DEPS ...): a GoogleTest binary registered with ctest.
function(civitas_test name)
  if(NOT CIVITAS_TESTS)
    return()
  endif()
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main)
  # PRE_TEST: data-driven tests (new case files) are found when ctest runs, not at build time.
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 30 DISCOVERY_MODE PRE_TEST PROPERTIES TIMEOUT 300)
endfunction()
