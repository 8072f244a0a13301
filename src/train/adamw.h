// AdamW (Loshchilov & Hutter 2019) with decoupled weight decay, written out so that its whole state
// (first/second moments, step count) is plain named tensors that checkpoints save and restore bit
// for bit on either LibTorch version:
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g²;  p -= lr·wd·p;  p -= lr · (m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps)
// Weight decay applies to tensors with >= 2 dims (matrices, embeddings), not to biases and norms.
#pragma once
#include <ATen/ATen.h>

#include <map>
#include <string>
#include <vector>

namespace scanlab::train {

struct AdamWOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.01;
};

class AdamW {
 public:
  AdamW(std::vector<std::pair<std::string, at::Tensor>> named_params, AdamWOptions opts);
  void zero_grad();
  void step(double lr);
  int64_t steps() const { return t_; }
  // "m/<param>", "v/<param>" and "t" (a one-element int64 tensor).
  std::map<std::string, at::Tensor> state() const;
  // Checks that every parameter's moments are present with its shape.
  void load_state(const std::map<std::string, at::Tensor>& state);

 private:
  std::vector<std::pair<std::string, at::Tensor>> params_;
  std::vector<at::Tensor> m_, v_;
  AdamWOptions opts_;
  int64_t t_ = 0;
};

// Linear warmup from 0 over `warmup` steps, then cosine decay from lr to lr·min_ratio at `total`.
double scheduled_lr(int64_t step, int64_t total, int64_t warmup, double lr, double min_ratio);

}  // namespace scanlab::train
