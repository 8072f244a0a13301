#include "core/device_sync.h"

#include <torch/cuda.h>

namespace scanlab {

void synchronize(c10::Device device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

}  // namespace scanlab
