// The language-model stack shared by the affine family (linear attention, RetNet, Mamba2, GLA,
// mLSTM, Mamba, Gated DeltaNet): embedding, N blocks of (RMSNorm -> token mixer -> residual,
// RMSNorm -> SwiGLU MLP -> residual), final RMSNorm, linear head. Each model file supplies only its
// token mixer, whose recurrent state is O(1) in the sequence length:
//   forward / prefill run the mixers' chunked paths from the zero state (prefill keeps the final
//   states), Stream::step runs their step paths, so prefill + step x n equals forward.
// Parameter names: "embed.weight", "layers.{i}.mixer_norm.weight", "layers.{i}.mixer.<name>",
// "layers.{i}.mlp_norm.weight", "layers.{i}.mlp.{gate,up,down}_proj.weight", "norm.weight",
// "head.weight". Stream state names: "layers.{i}.<mixer state name>" plus "position".
#pragma once
#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "models/layers/rms_norm.h"
#include "models/sequence_model.h"

namespace scanlab::models {

struct AffineLmOptions {
  int64_t vocab_size = 256;
  int64_t d_model = 64;
  int64_t n_layers = 2;
  int64_t mlp_hidden = 0;  // SwiGLU width; 0 means 8/3 d_model rounded up to a multiple of 8
  int64_t chunk_len = 64;  // chunk of the mixers' chunked path (forward and prefill)
  double norm_eps = 1e-6;
  double dropout = 0.1;  // residual dropout on mixer and MLP outputs, training only (GPT-2's default)

  void read(StrictJson& r);
  void write(nlohmann::json& j) const;
  int64_t mlp_width() const;
};

using MixerState = std::vector<at::Tensor>;

// A token mixer: x [B, T, D] -> [B, T, D] with a recurrent state it updates in place.
class TokenMixer : public torch::nn::Module {
 public:
  // `state` holds the state before x and is left holding the state after it. single_step (T == 1)
  // takes the recurrent step path; otherwise the chunked path runs.
  virtual at::Tensor mix(const at::Tensor& x, MixerState& state, bool single_step) = 0;
  // The zero state for `batch` sequences; `param` is any parameter (its dtype and device).
  virtual MixerState initial_state(int64_t batch, const at::Tensor& param) const = 0;
  virtual std::vector<std::string> state_names() const = 0;
};

class SequenceSplit;

class AffineLm : public SequenceModel {
 public:
  using MixerFactory = std::function<std::shared_ptr<TokenMixer>()>;
  // `extra` holds the model's own options as written into config().
  AffineLm(std::string kind, AffineLmOptions options, nlohmann::json extra, const MixerFactory& make_mixer);

  std::string kind() const override { return kind_; }
  nlohmann::json config() const override;
  int64_t vocab_size() const override { return options_.vocab_size; }
  const AffineLmOptions& options() const { return options_; }

  at::Tensor forward(const at::Tensor& tokens) override;
  // Sequence parallelism's forward (dist/seq_parallel.h): `tokens` is one contiguous block of each
  // sequence; the mixers' scans and short convolutions take what comes before it from `split`
  // (models/sequence_split.h). Logits [B, t, V] of the block's positions.
  at::Tensor forward_split(const at::Tensor& tokens, SequenceSplit& split);
  std::unique_ptr<Stream> start_stream(int64_t batch) override;
  std::pair<at::Tensor, std::unique_ptr<Stream>> prefill(const at::Tensor& tokens) override;

  // tokens [B, T] -> logits [B, T, V], advancing `states` (one per layer); single_step needs T == 1.
  at::Tensor run(const at::Tensor& tokens, std::vector<MixerState>& states, bool single_step);
  // run() without its argument checks, which read the token ids back to the host: the decode step
  // checks once before it and may be captured in a CUDA graph, where no host read is allowed.
  at::Tensor run_unchecked(const at::Tensor& tokens, std::vector<MixerState>& states, bool single_step);
  std::vector<MixerState> initial_states(int64_t batch);
  std::vector<std::string> state_names(int64_t layer) const;

 private:
  std::string kind_;
  AffineLmOptions options_;
  nlohmann::json extra_;
  torch::nn::Embedding embed_{nullptr};
  torch::nn::ModuleList layers_{nullptr};
  std::shared_ptr<RmsNorm> norm_;
  torch::nn::Linear head_{nullptr};
};

// Per-head helpers for mixers: [..., H*K] <-> [..., H, K].
at::Tensor split_heads(const at::Tensor& x, int64_t heads);
at::Tensor merge_heads(const at::Tensor& x);
// Reads "n_heads" and checks that it divides `width`.
int64_t read_heads(StrictJson& r, int64_t default_heads, int64_t width);

}  // namespace scanlab::models
