#pragma once

// Assertions for fuzz targets. A failed check is a finding: in the libFuzzer binaries it prints
// the check and aborts (check_abort.cc), so libFuzzer saves the input; in the GoogleTest
// regression runner (regression_test.cc) it throws, so one bad file fails one test and the run
// goes on. The detail expression is evaluated only when the check fails.

#include <string>

namespace civitas::fuzz {

[[noreturn]] void CheckFailed(const char* file, int line, const char* condition,
                              const std::string& detail);

}  // namespace civitas::fuzz

#define FUZZ_CHECK(condition, detail)                                                    \
  do {                                                                                   \
    if (!(condition)) {                                                                  \
      ::civitas::fuzz::CheckFailed(__FILE__, __LINE__, #condition, std::string(detail)); \
    }                                                                                    \
  } while (0)
