// Figures for the affine-family ops: chunked path vs token-loop reference (forward, float32), and the
// decode step (torch path vs the fused CUDA kernel, where the device has one) with state bandwidth.
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace scanlab::bench {

struct AffineBenchOptions {
  std::vector<int64_t> lengths{256, 1024};
  int64_t batch = 2, heads = 4, dim = 64, chunk = 64;  // op shapes: K = V = dim
  std::vector<int64_t> decode_batches{1, 8, 64, 256};
  int decode_inner = 20;                        // back-to-back steps per timed loop
  int64_t decode_heads = 16, decode_dim = 128;  // 16 x 128 x 128 float32 = 1 MiB of state per sequence
  int repeats = 5;
  int64_t max_ref_length = 1024;  // the token loop is skipped above this length
};

// A markdown report (two tables).
std::string run_affine_bench(const AffineBenchOptions& opts, at::Device device);

}  // namespace scanlab::bench
