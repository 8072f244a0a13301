// Peak device memory of a benchmark cell: the CUDA caching allocator's peak of allocated bytes since
// the last reset. Nothing is measured on the CPU (peak_memory_bytes returns -1 there).
#pragma once
#include <c10/core/Device.h>

#include <cstdint>

namespace scanlab::bench {

void reset_peak_memory(c10::Device device);
int64_t peak_memory_bytes(c10::Device device);  // -1 where the device keeps no such statistic

}  // namespace scanlab::bench
