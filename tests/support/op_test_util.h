// Helpers for op tests: seeded random tensors, gradients through autograd, relative errors.
#pragma once
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>

#include <functional>
#include <string>
#include <vector>

#include "support/expect_close.h"

namespace scanlab::testing {

class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(at::make_generator<at::CPUGeneratorImpl>(seed)) {}
  at::Tensor randn(at::IntArrayRef sizes, at::ScalarType dtype = at::kDouble) {
    return at::randn(sizes, gen_, at::kDouble).to(dtype);
  }
  at::Tensor rand(at::IntArrayRef sizes, at::ScalarType dtype = at::kDouble) {
    return at::rand(sizes, gen_, at::kDouble).to(dtype);
  }
  // log sigmoid(N(bias, 1)): gates in (0, 1), mostly close to exp(-log1p(exp(-bias))).
  at::Tensor log_gate(at::IntArrayRef sizes, double bias, at::ScalarType dtype = at::kDouble) {
    return at::log_sigmoid(randn(sizes) + bias).to(dtype);
  }

 private:
  at::Generator gen_;
};

// Gradients of loss(inputs) with respect to every input (fresh leaves, so callers may reuse tensors).
inline std::vector<at::Tensor> grads_of(const std::function<at::Tensor(const std::vector<at::Tensor>&)>& loss,
                                        const std::vector<at::Tensor>& inputs) {
  std::vector<at::Tensor> leaves;
  for (const auto& t : inputs) leaves.push_back(t.detach().clone().requires_grad_(true));
  return torch::autograd::grad({loss(leaves)}, leaves);
}

// Gradients of a reference-path loss and a fast-path loss over the same inputs: every reference
// gradient is non-zero (the check can fail) and the two agree within max_abs.
inline void expect_same_gradients(const std::function<at::Tensor(const std::vector<at::Tensor>&)>& loss_ref,
                                  const std::function<at::Tensor(const std::vector<at::Tensor>&)>& loss_fast,
                                  const std::vector<at::Tensor>& inputs, double max_abs) {
  auto g_ref = grads_of(loss_ref, inputs), g_fast = grads_of(loss_fast, inputs);
  for (size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_GT(g_ref[i].abs().max().item<double>(), 0.0) << "input " << i;
    expect_close("grad of input " + std::to_string(i), g_ref[i], g_fast[i], max_abs);
  }
}

// max |expected - actual| / max |expected|.
inline double rel_err(const at::Tensor& expected, const at::Tensor& actual) {
  auto e = expected.detach().to(at::kDouble), a = actual.detach().to(at::kDouble);
  return ((e - a).abs().max() / e.abs().max().clamp_min(1e-300)).item<double>();
}

// ‖expected - actual‖ / ‖expected‖ over all elements (fla's assert_close measure; the bf16 bounds).
inline double rel_rms(const at::Tensor& expected, const at::Tensor& actual) {
  auto e = expected.detach().to(at::kCPU, at::kDouble), a = actual.detach().to(at::kCPU, at::kDouble);
  return ((e - a).pow(2).mean().sqrt() / e.pow(2).mean().sqrt().clamp_min(1e-300)).item<double>();
}

}  // namespace scanlab::testing
