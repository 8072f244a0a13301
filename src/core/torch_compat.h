// Version guards between Debian's LibTorch 1.13 (CPU machines, CI) and the 2.x PyTorch wheel (GPU
// machine). Every TORCH_VERSION test in scanlab lives here, so call sites stay version-free.
#pragma once
#include <torch/version.h>

#define SCANLAB_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

// torch::scaled_dot_product_attention exists from 2.0 on; 1.13 takes the portable path.
#define SCANLAB_HAS_SDPA SCANLAB_TORCH_AT_LEAST(2, 0)
