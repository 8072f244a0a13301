#include "core/runtime.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/utils.h>

#include <thread>

#include "core/check.h"

namespace scanlab {

int hardware_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

c10::Device resolve_device(const std::string& name) {
  if (name == "auto") return torch::cuda::is_available() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  if (name == "cpu") return c10::Device(c10::kCPU);
  if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
    SCANLAB_CHECK(torch::cuda::is_available(), "--device ", name,
                  " was asked for, but this LibTorch build sees no CUDA device; use --device cpu or auto");
    int64_t index = 0;
    if (name.size() > 5) {
      try {
        index = std::stoll(name.substr(5));
      } catch (const std::exception&) {
        SCANLAB_FAIL("--device ", name, ": expected cuda:N with N an integer");
      }
    }
    SCANLAB_CHECK(index >= 0 && index < static_cast<int64_t>(torch::cuda::device_count()), "--device ", name,
                  ": there are ", torch::cuda::device_count(), " CUDA device(s)");
    return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  SCANLAB_FAIL("--device '", name, "' is not a device; expected cpu, cuda, cuda:N or auto");
}

c10::Device apply_runtime(const RuntimeOptions& opts) {
  SCANLAB_CHECK(opts.threads >= 0, "--threads ", opts.threads, ": expected 0 (all cores) or a positive count");
  at::set_num_threads(opts.threads == 0 ? hardware_threads() : opts.threads);
  torch::manual_seed(opts.seed);
  return resolve_device(opts.device);
}

}  // namespace scanlab
