// The memory a command may use, and the check that refuses a command before it allocates more than
// that. Available memory: MemAvailable of /proc/meminfo for the CPU, the device's free memory
// (cudaMemGetInfo) for CUDA; SCANLAB_MEMORY_LIMIT=<bytes> lowers it (shared machines, tests).
#pragma once
#include <c10/core/Device.h>

#include <cstdint>
#include <string>

namespace scanlab {

// Bytes `device` can still give; -1 when unknown (no /proc/meminfo, a CUDA device in a build without CUDA).
int64_t available_memory_bytes(const c10::Device& device);

// "1.5 GiB", "320 MiB", "12 KiB", "800 B".
std::string format_bytes(double bytes);

// Throws, naming `what` (the command and the sizes that set the estimate), the estimate and the
// available memory, when `estimate_bytes` exceeds what `device` has; does nothing when unknown.
void check_fits_in_memory(double estimate_bytes, const c10::Device& device, const std::string& what);

}  // namespace scanlab
