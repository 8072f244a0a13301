// Transformer-PSM (PSM paper §3, spec §3.1-3.2, prediction variant A). With chunk length C:
//   Enc:  x = Drop(wte[a] + wpe[pos]), chunk i is X[iC:(i+1)C]            [B, C, D] per chunk
//   Agg:  Agg(s, x) = RightHalf(LN(GPT_agg([s | x])))   L1 blocks, mask "bidirectional" (paper)
//         or "causal" (HF's built-in mask in the reference code); no dropout after its LN (as the
//         S5/MQAR reference files; the LM file adds one)
//   Inf:  chunk i's hidden states = RightHalf(Drop(LN(GPT_inf([P_i | x_i])))), causal; chunk 0
//         runs over x_0 alone; logits = head(.), an untied bias-free linear layer.
// P_i is the Blelloch-tree prefix of x_0..x_{i-1} (scan/blelloch.h); Agg is not associative, so
// the tree is part of the model. Parallel: one batched Agg per tree level, Inf on every chunk at
// once. Stream: the online binary counter (scan/online_scanner.h), O(log(T/C)) stored chunk
// states, and an Inf KV cache of <= 2C entries per layer (the prefix state, then this chunk's
// tokens). Positions: "global" (0..T-1, as the reference training code; streams stop at
// n_positions) or "chunk_local" (0..C-1 in every chunk; unbounded streams).
// Weight names: wte, wpe, agg.h.<i>.*, agg.ln_f, inf.h.<i>.*, inf.ln_f, head.weight.
#pragma once
#include <nlohmann/json.hpp>
#include <torch/nn/modules/linear.h>

#include <memory>
#include <string>

#include "models/gpt2_block.h"
#include "models/sequence_model.h"
#include "models/token_embedding.h"
#include "scan/tensor_state.h"

namespace scanlab::models {

struct TransformerPsmOptions {
  int64_t vocab_size = 50257;
  int64_t n_positions = 1024;
  int64_t n_embd = 768;
  int64_t n_head = 12;
  int64_t n_layer_agg = 1;   // L1
  int64_t n_layer_inf = 12;  // L2
  int64_t chunk_size = 64;   // C
  std::string position_mode = "global";     // or "chunk_local"
  std::string agg_mask = "bidirectional";   // or "causal"
  double attn_pdrop = 0.1, resid_pdrop = 0.1, embd_pdrop = 0.1;

  nlohmann::json to_json() const;
  static TransformerPsmOptions from_json(const nlohmann::json& config);
};

class TransformerPsm : public SequenceModel {
 public:
  explicit TransformerPsm(const TransformerPsmOptions& o);
  std::string kind() const override { return "transformer_psm"; }
  nlohmann::json config() const override { return o_.to_json(); }
  int64_t vocab_size() const override { return o_.vocab_size; }
  at::Tensor forward(const at::Tensor& tokens) override;
  std::unique_ptr<Stream> start_stream(int64_t batch) override;
  // Parallel logits; the stream's counter is filled by inserting the prompt's complete chunks.
  std::pair<at::Tensor, std::unique_ptr<Stream>> prefill(const at::Tensor& tokens) override;

  const TransformerPsmOptions& options() const { return o_; }
  // Agg network evaluations so far (each is one batched call over a tree level or one carry).
  int64_t agg_calls() const { return agg_calls_; }

 private:
  friend class TransformerPsmStream;
  at::Tensor encode(const at::Tensor& tokens, int64_t start);  // [B, T] -> [B, T, D]
  scan::TensorState agg(const scan::TensorState& older, const scan::TensorState& newer);
  at::Tensor inf_head(const at::Tensor& h);  // final dropout and head: [.., D] -> [.., V]

  TransformerPsmOptions o_;
  TokenEmbedding emb_;
  std::shared_ptr<torch::nn::Module> agg_holder_, inf_holder_;  // "agg." and "inf." names
  Gpt2Stack agg_stack_, inf_stack_;
  torch::nn::Linear head_{nullptr};
  int64_t agg_calls_ = 0;
};

class TransformerPsmStream : public Stream {
 public:
  TransformerPsmStream(std::shared_ptr<TransformerPsm> model, int64_t batch);
  at::Tensor step(const at::Tensor& token) override;
  int64_t position() const override { return position_; }
  int64_t state_bytes() const override;
  std::map<std::string, at::Tensor> save() const override;
  void restore(const std::map<std::string, at::Tensor>& tensors) override;

  int64_t agg_calls() const override { return scanner_.agg_counter().calls; }
  int64_t stored_chunk_states() const { return scanner_.stored_states(); }
  int64_t inf_cache_entries() const { return inf_cache_.empty() ? 0 : inf_cache_.front().length(); }

 private:
  friend class TransformerPsm;
  void complete_chunk();       // insert the chunk into the counter, prefill Inf with the new prefix
  void prefill_inf_prefix();   // Inf cache := the current prefix state (nothing before chunk 1)

  std::shared_ptr<TransformerPsm> m_;
  int64_t batch_;
  int64_t position_ = 0;
  scan::TensorOnlineScanner scanner_;
  std::vector<at::Tensor> chunk_;  // this chunk's encodings so far, each [B, 1, D]
  std::vector<KvCache> inf_cache_;
};

}  // namespace scanlab::models
