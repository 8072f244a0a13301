#include "nar/gnn/linear.h"

#include <ATen/ATen.h>
#include <torch/nn/init.h>

#include <cmath>

#include "core/check.h"

namespace scanlab::nar::gnn {

at::Tensor truncated_normal(at::IntArrayRef shape, double stddev) {
  // Standard deviation of a unit normal truncated to [-2, 2]; dividing by it makes the truncated
  // samples have exactly `stddev` (Haiku's TruncatedNormal does the same).
  constexpr double kTruncatedStd = 0.87962566103423978;
  at::Tensor w = at::randn(shape, at::kFloat);
  at::Tensor outside = w.abs() > 2.0;
  while (outside.any().item<bool>()) {
    w = at::where(outside, at::randn(shape, at::kFloat), w);
    outside = w.abs() > 2.0;
  }
  return w * (stddev / kTruncatedStd);
}

torch::nn::Linear make_linear(int64_t in, int64_t out, double stddev, double bias) {
  SCANLAB_CHECK(in > 0 && out > 0, "linear layer sizes must be positive, got ", in, " -> ", out);
  torch::nn::Linear lin(torch::nn::LinearOptions(in, out).bias(true));
  const double sd = stddev > 0 ? stddev : 1.0 / std::sqrt(static_cast<double>(in));
  at::NoGradGuard no_grad;
  lin->weight.copy_(truncated_normal({out, in}, sd));
  lin->bias.fill_(bias);
  return lin;
}

}  // namespace scanlab::nar::gnn
