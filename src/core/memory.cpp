#include "core/memory.h"

#include <fmt/format.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/check.h"

#ifdef SCANLAB_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <cuda_runtime_api.h>
#endif

namespace scanlab {
namespace {

int64_t meminfo_available() {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key;
    int64_t kib = 0;
    if (fields >> key >> kib && key == "MemAvailable:") return kib * 1024;
  }
  return -1;
}

int64_t device_available(const c10::Device& device) {
  if (device.is_cpu()) return meminfo_available();
#ifdef SCANLAB_WITH_CUDA
  if (device.is_cuda()) {
    c10::cuda::CUDAGuard guard(device);
    size_t free = 0, total = 0;
    if (cudaMemGetInfo(&free, &total) == cudaSuccess) return static_cast<int64_t>(free);
  }
#endif
  return -1;
}

}  // namespace

int64_t available_memory_bytes(const c10::Device& device) {
  int64_t bytes = device_available(device);
  if (const char* limit = std::getenv("SCANLAB_MEMORY_LIMIT")) {
    char* end = nullptr;
    const long long v = std::strtoll(limit, &end, 10);
    SCANLAB_CHECK(end != limit && *end == '\0' && v > 0, "SCANLAB_MEMORY_LIMIT='", limit,
                  "': expected a positive number of bytes");
    bytes = bytes < 0 ? v : std::min<int64_t>(bytes, v);
  }
  return bytes;
}

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int u = 0;
  while (bytes >= 1024.0 && u < 6) {
    bytes /= 1024.0;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.{}f} {}", bytes, bytes < 10 ? 1 : 0, units[u]);
}

void check_fits_in_memory(double estimate_bytes, const c10::Device& device, const std::string& what) {
  const int64_t available = available_memory_bytes(device);
  SCANLAB_CHECK(available < 0 || estimate_bytes <= static_cast<double>(available), what, " needs about ",
                format_bytes(estimate_bytes), " but ", format_bytes(static_cast<double>(available)), " are available",
                device.is_cpu() ? " (MemAvailable)" : " on " + device.str(), "; make it smaller");
}

}  // namespace scanlab
