#include "device_memory.h"

#include <c10/core/Allocator.h>
#include <c10/util/ThreadLocalDebugInfo.h>

#include <algorithm>
#include <memory>
#include <mutex>

#include "core/torch_compat.h"

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

// Receives every CPU allocation and free while it is this thread's PROFILER_STATE debug info: the
// allocator reports its running total, so the peak is the largest total minus the one before the first event.
class CpuAllocationPeak : public c10::MemoryReportingInfoBase {
 public:
  void reportMemoryUsage(void* /*ptr*/, int64_t alloc_size, SCANLAB_MEMORY_TOTAL_T total_allocated,
                         SCANLAB_MEMORY_TOTAL_T /*total_reserved*/, c10::Device device) override {
    if (!device.is_cpu()) return;
    const int64_t total = static_cast<int64_t>(total_allocated);
    std::lock_guard<std::mutex> lock(mutex_);
    if (!started_) {
      start_ = total - alloc_size;  // alloc_size is negative for a free
      peak_ = start_;
      started_ = true;
    }
    peak_ = std::max(peak_, total);
  }
  bool memoryProfilingEnabled() const override { return true; }
  int64_t peak_above_start() {
    std::lock_guard<std::mutex> lock(mutex_);
    return started_ ? peak_ - start_ : 0;
  }

 private:
  std::mutex mutex_;
  bool started_ = false;
  int64_t start_ = 0, peak_ = 0;
};

std::shared_ptr<CpuAllocationPeak>& cpu_peak() {
  static thread_local std::shared_ptr<CpuAllocationPeak> peak;
  return peak;
}

void stop_cpu_peak() {
  if (!cpu_peak()) return;
  c10::ThreadLocalDebugInfo::_pop(c10::DebugInfoKind::PROFILER_STATE);
  cpu_peak().reset();
}

}  // namespace

void reset_peak_memory(c10::Device device) {
  if (device.is_cpu()) {
    stop_cpu_peak();
    cpu_peak() = std::make_shared<CpuAllocationPeak>();
    c10::ThreadLocalDebugInfo::_push(c10::DebugInfoKind::PROFILER_STATE, cpu_peak());
    return;
  }
#ifdef SCANLAB_WITH_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(index_of(device));
#endif
}

int64_t peak_memory_bytes(c10::Device device) {
  if (device.is_cpu()) {
    if (!cpu_peak()) return -1;
    const int64_t peak = cpu_peak()->peak_above_start();
    stop_cpu_peak();
    return peak;
  }
#ifdef SCANLAB_WITH_CUDA
  if (device.is_cuda()) {
    // allocated_bytes[0] is the aggregate over the small and large pools (StatType::AGGREGATE) in
    // LibTorch 1.13 and 2.x alike; 2.5 moved DeviceStats to c10::CachingDeviceAllocator, hence auto.
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(index_of(device));
    return stats.allocated_bytes[0].peak;
  }
#endif
  return -1;
}

}  // namespace scanlab::bench
