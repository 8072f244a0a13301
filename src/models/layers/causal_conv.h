// Causal depthwise convolution over T (Mamba's short conv). Its streaming state is the last W-1
// inputs, [B, W-1, C]; forward(x [B, T, C], state) prepends the state, so T = 1 is the decode step.
// Under sequence parallelism (models/sequence_split.h) the W-1 inputs before a block come from the
// ranks before it instead. Parameters: "weight" [C, W], "bias" [C].
#pragma once
#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <cstdint>

namespace scanlab::models {

class CausalConv : public torch::nn::Module {
 public:
  CausalConv(int64_t channels, int64_t width);
  at::Tensor forward(const at::Tensor& x, at::Tensor& state) const;
  at::Tensor initial_state(int64_t batch, const at::Tensor& param) const;

 private:
  int64_t channels_, width_;
  at::Tensor weight_, bias_;  // [C, W], [C]
};

}  // namespace scanlab::models
