// Causal transformer language models from GPT-2 blocks (PSM spec §3.2, §4 baselines):
//   "gpt2":           wte + wpe, n causal blocks, ln_f, head tied to wte (or untied "lm_head").
//                     Stream: a KV cache per layer that grows with T (SPD(n^2, n)).
//   "sliding_window": the same, but every token attends to itself and the W-1 tokens before it.
//                     Parallel: a banded mask. Stream: a ring buffer of W K/V entries per layer,
//                     so the state stays constant after W tokens.
// Positions are learned absolute positions 0..n_positions-1 in both models: with them, the stream
// is exactly the parallel function, and a position past n_positions is an error (the model has no
// embedding for it), so streams are bounded by n_positions.
#pragma once
#include <nlohmann/json.hpp>

#include <memory>
#include <string>

#include <torch/nn/modules/linear.h>

#include "models/layers/gpt2_block.h"
#include "models/layers/token_embedding.h"
#include "models/sequence_model.h"

namespace scanlab::models {

struct Gpt2Options {
  int64_t vocab_size = 50257;
  int64_t n_positions = 1024;
  int64_t n_embd = 768;
  int64_t n_head = 12;
  int64_t n_layer = 12;
  bool tie_word_embeddings = true;  // head = wte^T; untied: "lm_head.weight" [V, D]
  double attn_pdrop = 0.1, resid_pdrop = 0.1, embd_pdrop = 0.1;
  int64_t window = 0;  // 0: full causal attention ("gpt2"); W >= 1: "sliding_window"

  std::string kind() const { return window > 0 ? "sliding_window" : "gpt2"; }
  nlohmann::json to_json() const;
  // `sliding` selects the model kind: it requires "window" and the other forbids it.
  static Gpt2Options from_json(const nlohmann::json& config, bool sliding);
};

class Gpt2Model : public SequenceModel {
 public:
  explicit Gpt2Model(const Gpt2Options& o);
  std::string kind() const override { return o_.kind(); }
  nlohmann::json config() const override { return o_.to_json(); }
  int64_t vocab_size() const override { return o_.vocab_size; }
  at::Tensor forward(const at::Tensor& tokens) override;
  std::unique_ptr<Stream> start_stream(int64_t batch) override;
  // Parallel prefill: one causal (or banded) pass that also fills the caches.
  std::pair<at::Tensor, std::unique_ptr<Stream>> prefill(const at::Tensor& tokens) override;

  const Gpt2Options& options() const { return o_; }

 private:
  friend class Gpt2Stream;
  at::Tensor embed(const at::Tensor& tokens, int64_t start);  // checks the positions exist
  void check_position(int64_t position) const;                // it has a learned embedding
  at::Tensor head(const at::Tensor& h);

  Gpt2Options o_;
  TokenEmbedding emb_;
  Gpt2Stack stack_;
  torch::nn::Linear lm_head_{nullptr};
};

class Gpt2Stream : public Stream {
 public:
  Gpt2Stream(std::shared_ptr<Gpt2Model> model, int64_t batch);
  at::Tensor step(const at::Tensor& token) override;
  int64_t position() const override { return position_; }
  int64_t state_bytes() const override { return kv_cache_bytes(caches_); }
  std::map<std::string, at::Tensor> save() const override;
  void restore(const std::map<std::string, at::Tensor>& tensors) override;
  void check_next_step() const override { m_->check_position(position_); }
  std::vector<std::unique_ptr<Stream>> split() const override;

 protected:
  // One embedding lookup, one GEMM per projection and MLP layer, one batched attention and one head
  // product over all the streams: their caches (of different lengths) are copied, padded, into one
  // [N, H, S, D/H] tensor per layer, and each new key and value is added to its own cache after.
  at::Tensor step_group(const std::vector<Stream*>& streams, const at::Tensor& tokens) override;

 private:
  friend class Gpt2Model;
  std::shared_ptr<Gpt2Model> m_;
  int64_t batch_;
  int64_t position_ = 0;
  std::vector<KvCache> caches_;
};

}  // namespace scanlab::models
