// The safetensors reader's entry point, on its own: it needs LibTorch's tensors but nothing else of
// the library, so the quick fuzz build (fuzz/quick/) links it against LibTorch with only
// io/safetensors.cpp compiled beside it.
#include "fuzz_targets.h"
#include "io/safetensors.h"
#include "refusal.h"

namespace scanlab::fuzz {

int fuzz_safetensors(const uint8_t* data, size_t size) {
  return refusal_is_fine([&] { io::decode_safetensors(bytes_of(data, size), "fuzz"); });
}

}  // namespace scanlab::fuzz
