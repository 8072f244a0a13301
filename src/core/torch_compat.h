// Version guards between Debian's LibTorch 1.13 (CPU machines, CI) and the 2.x PyTorch wheel (GPU
// machine). Every TORCH_VERSION test in scanlab lives here, so call sites stay version-free.
#pragma once
#include <torch/version.h>

#define SCANLAB_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

// torch::scaled_dot_product_attention exists from 2.0 on; 1.13 takes the portable path.
#define SCANLAB_HAS_SDPA SCANLAB_TORCH_AT_LEAST(2, 0)

// From 2.0 on, c10d's ProcessGroupGloo / ProcessGroupNCCL derive from c10d::Backend (1.13: ProcessGroup).
#define SCANLAB_C10D_BACKEND_IS_SEPARATE SCANLAB_TORCH_AT_LEAST(2, 0)

// c10::MemoryReportingInfoBase::reportMemoryUsage takes its totals as int64_t in 1.13, size_t in 2.x.
#if SCANLAB_TORCH_AT_LEAST(2, 0)
#define SCANLAB_MEMORY_TOTAL_T size_t
#else
#define SCANLAB_MEMORY_TOTAL_T int64_t
#endif

#include <ATen/autocast_mode.h>

namespace scanlab {

// bfloat16 autocast for CUDA ops inside a scope (what torch.autocast("cuda", torch.bfloat16) does);
// does nothing when `on` is false. The autocast API moved to per-device calls in 2.4.
class CudaBf16Autocast {
 public:
  explicit CudaBf16Autocast(bool on) : on_(on) {
    if (!on_) return;
#if SCANLAB_TORCH_AT_LEAST(2, 4)
    prev_enabled_ = at::autocast::is_autocast_enabled(at::kCUDA);
    prev_dtype_ = at::autocast::get_autocast_dtype(at::kCUDA);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
#else
    prev_enabled_ = at::autocast::is_enabled();
    prev_dtype_ = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_enabled(true);
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
#endif
    at::autocast::increment_nesting();
  }
  ~CudaBf16Autocast() {
    if (!on_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
#if SCANLAB_TORCH_AT_LEAST(2, 4)
    at::autocast::set_autocast_enabled(at::kCUDA, prev_enabled_);
    at::autocast::set_autocast_dtype(at::kCUDA, prev_dtype_);
#else
    at::autocast::set_enabled(prev_enabled_);
    at::autocast::set_autocast_gpu_dtype(prev_dtype_);
#endif
  }
  CudaBf16Autocast(const CudaBf16Autocast&) = delete;
  CudaBf16Autocast& operator=(const CudaBf16Autocast&) = delete;

 private:
  bool on_;
  bool prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kHalf;
};

// Whether CUDA autocast to bfloat16 is on (activation checkpointing replays the forward's state).
inline bool cuda_bf16_autocast_enabled() {
#if SCANLAB_TORCH_AT_LEAST(2, 4)
  return at::autocast::is_autocast_enabled(at::kCUDA) && at::autocast::get_autocast_dtype(at::kCUDA) == at::kBFloat16;
#else
  return at::autocast::is_enabled() && at::autocast::get_autocast_gpu_dtype() == at::kBFloat16;
#endif
}

// Turns CUDA autocast off inside a scope (torch.autocast("cuda", enabled=False)): the recurrent ops
// keep their state math in float32 even when called from an autocast region, where matmuls would
// otherwise round the state to bfloat16.
class CudaAutocastOff {
 public:
  CudaAutocastOff() {
#if SCANLAB_TORCH_AT_LEAST(2, 4)
    prev_enabled_ = at::autocast::is_autocast_enabled(at::kCUDA);
    at::autocast::set_autocast_enabled(at::kCUDA, false);
#else
    prev_enabled_ = at::autocast::is_enabled();
    at::autocast::set_enabled(false);
#endif
  }
  ~CudaAutocastOff() {
#if SCANLAB_TORCH_AT_LEAST(2, 4)
    at::autocast::set_autocast_enabled(at::kCUDA, prev_enabled_);
#else
    at::autocast::set_enabled(prev_enabled_);
#endif
  }
  CudaAutocastOff(const CudaAutocastOff&) = delete;
  CudaAutocastOff& operator=(const CudaAutocastOff&) = delete;

 private:
  bool prev_enabled_ = false;
};

}  // namespace scanlab
