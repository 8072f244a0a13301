// RMSNorm over the last dim with a learned scale (no bias, no mean subtraction): the norm of the
// affine-family stack (models/affine/affine_lm.h) and of the mixers' output norms. Parameter: "weight" [dim].
#pragma once
#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <cstdint>

namespace scanlab::models {

class RmsNorm : public torch::nn::Module {
 public:
  RmsNorm(int64_t dim, double eps);
  at::Tensor forward(const at::Tensor& x) const;  // normalizes the last dim

 private:
  double eps_;
  at::Tensor weight_;
};

}  // namespace scanlab::models
