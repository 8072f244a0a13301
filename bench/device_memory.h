// Peak memory of a benchmark cell, in bytes allocated (not reserved) since the last reset. CUDA: the
// caching allocator's peak of allocated bytes. CPU: the peak of the bytes LibTorch's CPU allocator
// holds for this thread's work above what it held at the reset, seen through the allocator's memory
// reporting (c10::MemoryReportingInfoBase, what the profiler's profile_memory uses), switched on from
// reset_peak_memory until peak_memory_bytes on the calling thread.
#pragma once
#include <c10/core/Device.h>

#include <cstdint>

namespace scanlab::bench {

void reset_peak_memory(c10::Device device);
int64_t peak_memory_bytes(c10::Device device);  // -1 where nothing was measured (no reset before it)

}  // namespace scanlab::bench
