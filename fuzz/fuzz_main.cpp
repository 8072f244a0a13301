// The libFuzzer entry of one fuzz executable: SCANLAB_FUZZ_ENTRY names its function in fuzz_targets.h
// (fuzz/CMakeLists.txt builds one executable per target).
#include "fuzz_targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return scanlab::fuzz::SCANLAB_FUZZ_ENTRY(data, size);
}
