// A small random, non-associative neural aggregator: Agg(a, b) = W2 tanh(W1 [a; b] + b1) + b2 + a*b
// on states [B, D] (or [B, ..., D]). The demo, the duality tests and the scan benchmark use it as a
// stand-in for a learned Agg such as the Transformer-PSM's GPT blocks.
#pragma once
#include <ATen/ATen.h>

#include "scan/tensor_state.h"

namespace scanlab::scan {

class RandomMlpAgg {
 public:
  // Weights drawn from a generator seeded with `seed`, in `dtype` on `device`.
  RandomMlpAgg(int64_t dim, int64_t hidden, uint64_t seed, at::ScalarType dtype, at::Device device);
  TensorState operator()(const TensorState& older, const TensorState& newer) const;
  // Trainable copy for autograd tests: requires_grad on every weight.
  void set_requires_grad(bool on);
  std::vector<at::Tensor> parameters() const { return {w1_, b1_, w2_, b2_}; }
  int64_t dim() const { return dim_; }

 private:
  int64_t dim_;
  at::Tensor w1_, b1_, w2_, b2_;
};

}  // namespace scanlab::scan
