// The SwiGLU MLP of the affine-family blocks: down(silu(gate(x)) * up(x)), no biases. Parameters:
// "gate_proj.weight", "up_proj.weight" [hidden, dim], "down_proj.weight" [dim, hidden].
#pragma once
#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>

#include <cstdint>

namespace scanlab::models {

class SwiGlu : public torch::nn::Module {
 public:
  SwiGlu(int64_t dim, int64_t hidden);
  at::Tensor forward(const at::Tensor& x);

  torch::nn::Linear gate_proj, up_proj, down_proj;
};

}  // namespace scanlab::models
