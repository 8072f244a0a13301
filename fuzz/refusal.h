// What every fuzz entry point shares: a parser run in which a clean refusal (scanlab::Error, or the
// server's RequestError) passes and anything else propagates to libFuzzer or the replay test.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/check.h"

namespace scanlab::fuzz {

// The message of the last refusal on this thread ("" when the input was accepted).
std::string& refusal_slot();

inline std::string bytes_of(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

template <class Refusal = Error, class Body>
int refusal_is_fine(Body body) {
  refusal_slot().clear();
  try {
    body();
  } catch (const Refusal& e) {
    refusal_slot() = e.what();
  }
  return 0;
}

}  // namespace scanlab::fuzz
