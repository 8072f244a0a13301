#include "models/layers/token_embedding.h"

#include <torch/nn/init.h>

#include "core/check.h"

namespace scanlab::models {

TokenEmbedding::TokenEmbedding(torch::nn::Module& owner, int64_t vocab, int64_t n_positions, int64_t n_embd,
                               double embd_pdrop, double init_std)
    : n_positions_(n_positions), embd_pdrop_(embd_pdrop) {
  wte_ = owner.register_module("wte", torch::nn::Embedding(vocab, n_embd));
  wpe_ = owner.register_module("wpe", torch::nn::Embedding(n_positions, n_embd));
  torch::NoGradGuard no_grad;
  wte_->weight.normal_(0.0, init_std);
  wpe_->weight.normal_(0.0, init_std);
}

at::Tensor TokenEmbedding::forward(const at::Tensor& tokens, const at::Tensor& positions, bool training) const {
  at::Tensor x = at::embedding(wte_->weight, tokens) + at::embedding(wpe_->weight, positions).unsqueeze(0);
  return at::dropout(x, training ? embd_pdrop_ : 0.0, training);
}

void check_token_batch(const at::Tensor& tokens, int64_t vocab, bool one_step, const std::string& what) {
  SCANLAB_CHECK(tokens.defined(), what, ": tokens are an undefined tensor");
  const bool shape_ok = one_step ? tokens.dim() == 1 && tokens.size(0) >= 1
                                 : tokens.dim() == 2 && tokens.size(0) >= 1 && tokens.size(1) >= 1;
  SCANLAB_CHECK(shape_ok, what, ": tokens have shape ", tokens.sizes(), "; expected ",
                one_step ? "[B] with B >= 1" : "[B, T] with B, T >= 1");
  SCANLAB_CHECK(tokens.scalar_type() == at::kLong, what, ": tokens are ", tokens.scalar_type(), "; expected int64");
  // One device-to-host read for both bounds: a decode step pays this synchronisation per token.
  const at::Tensor bounds = at::stack({tokens.min(), tokens.max()}).to(at::kCPU);
  const int64_t lo = bounds[0].item<int64_t>(), hi = bounds[1].item<int64_t>();
  SCANLAB_CHECK(lo >= 0 && hi < vocab, what, ": token ids span [", lo, ", ", hi, "]; expected ids in [0, ", vocab, ")");
}

}  // namespace scanlab::models
