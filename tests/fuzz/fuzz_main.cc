// The libFuzzer entry point of one fuzz_<name> binary. CIVITAS_FUZZ_FUNCTION names the target
// function of targets.h (set by CMakeLists.txt).

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  civitas::fuzz::CIVITAS_FUZZ_FUNCTION(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
