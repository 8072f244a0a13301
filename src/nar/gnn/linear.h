// Linear layers initialised as Haiku's hk.Linear (CLRS): weights from a normal distribution
// truncated at two standard deviations and rescaled so that the truncated distribution has the
// requested standard deviation (default 1/sqrt(fan_in)), biases constant (default 0). CLRS's
// reported numbers depend on this initialisation, so every GNN layer is built through here.
#pragma once
#include <torch/nn/modules/linear.h>

namespace scanlab::nar::gnn {

// `stddev <= 0` means 1/sqrt(in). Draws from torch's default generator (seeded by the caller).
torch::nn::Linear make_linear(int64_t in, int64_t out, double stddev = 0.0, double bias = 0.0);

// Truncated normal (|x| <= 2 before scaling) with standard deviation `stddev`, on the CPU.
at::Tensor truncated_normal(at::IntArrayRef shape, double stddev);

}  // namespace scanlab::nar::gnn
