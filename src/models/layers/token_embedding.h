// Token + learned absolute position embedding with dropout, registered on a model as "wte" and
// "wpe" (HF GPT-2 names): x = Drop(wte[a] + wpe[position]). Shared by the GPT-2, sliding-window and
// Transformer-PSM models, together with the token-batch checks every model's entry points make.
#pragma once
#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/embedding.h>

#include <string>

namespace scanlab::models {

class TokenEmbedding {
 public:
  TokenEmbedding() = default;
  // Weights drawn from N(0, init_std^2).
  TokenEmbedding(torch::nn::Module& owner, int64_t vocab, int64_t n_positions, int64_t n_embd, double embd_pdrop,
                 double init_std);
  // tokens [B, T] int64, positions [T] int64 -> [B, T, D]; `training` switches the dropout.
  at::Tensor forward(const at::Tensor& tokens, const at::Tensor& positions, bool training) const;
  const at::Tensor& token_weight() const { return wte_->weight; }  // [V, D]
  int64_t n_positions() const { return n_positions_; }

 private:
  torch::nn::Embedding wte_{nullptr}, wpe_{nullptr};
  int64_t n_positions_ = 0;
  double embd_pdrop_ = 0;
};

// Checks tokens are [B, T] (or [B] when `one_step`) int64 ids in [0, vocab); `what` names the caller.
void check_token_batch(const at::Tensor& tokens, int64_t vocab, bool one_step, const std::string& what);

}  // namespace scanlab::models
