#include "device_memory.h"

#ifdef SCANLAB_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace scanlab::bench {
namespace {

#ifdef SCANLAB_WITH_CUDA
c10::DeviceIndex index_of(c10::Device device) {
  return device.has_index() ? device.index() : c10::cuda::current_device();
}
#endif

}  // namespace

void reset_peak_memory(c10::Device device) {
#ifdef SCANLAB_WITH_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(index_of(device));
#else
  (void)device;
#endif
}

int64_t peak_memory_bytes(c10::Device device) {
#ifdef SCANLAB_WITH_CUDA
  if (device.is_cuda()) {
    // allocated_bytes[0] is the aggregate over the small and large pools (StatType::AGGREGATE) in
    // LibTorch 1.13 and 2.x alike; 2.5 moved DeviceStats to c10::CachingDeviceAllocator, hence auto.
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(index_of(device));
    return stats.allocated_bytes[0].peak;
  }
#else
  (void)device;
#endif
  return -1;
}

}  // namespace scanlab::bench
