// The attention-shaped part that linear attention, RetNet, GLA, mLSTM and Gated DeltaNet share:
// q/k/v projections into H heads, and the output side (per-head RMSNorm "o_norm", an output gate
// "g_proj", the projection "o_proj"). Each model adds its own gates and picks its op. Also the glue
// that runs an op's chunked path or its step path on a mixer state.
#pragma once
#include <ATen/ATen.h>
#include <torch/nn/modules/linear.h>

#include "models/affine/affine_lm.h"
#include "ops/affine_scan/affine_scan.h"
#include "ops/affine_scan/mlstm.h"
#include "ops/delta_rule/delta_rule.h"

namespace scanlab::models {

enum class OutputGate { Swish, Sigmoid };

// Its default state is one [H, K, V] matrix named "h" (K = V = d_model / H).
class QkvMixer : public TokenMixer {
 public:
  MixerState initial_state(int64_t batch, const at::Tensor& param) const override;
  std::vector<std::string> state_names() const override { return {"h"}; }

 protected:
  QkvMixer(const AffineLmOptions& lm, int64_t heads, OutputGate gate);

  struct Qkv {
    at::Tensor q, k, v;  // [B, T, H, K], [B, T, H, K], [B, T, H, V]
  };
  Qkv project(const at::Tensor& x);
  // Affine-scan inputs from x: q / √K, k, v (no gate).
  ops::AffineScanArgs scaled_affine_args(const at::Tensor& x);
  // o [B, T, H, V] -> [B, T, D]: o_proj(o_norm(o) * gate(g_proj(x))).
  at::Tensor output(const at::Tensor& o, const at::Tensor& x);
  // The affine op's chunked or step path on the "h" state, then output().
  at::Tensor mix_affine(ops::AffineScanArgs a, const at::Tensor& x, MixerState& state, bool single_step);
  // A Linear d_model -> `out` registered under `name`.
  torch::nn::Linear linear(const std::string& name, int64_t out, bool bias);

  int64_t d_model_, heads_, head_dim_, chunk_len_;
  OutputGate gate_;
  torch::nn::Linear q_proj_{nullptr}, k_proj_{nullptr}, v_proj_{nullptr}, g_proj_{nullptr}, o_proj_{nullptr};
  std::shared_ptr<RmsNorm> o_norm_;
};

// Zero [B, H, K, V] state in the op's state dtype for parameters like `param`.
at::Tensor zero_matrix_state(int64_t batch, int64_t heads, int64_t dk, int64_t dv, const at::Tensor& param);

// Run an op on a mixer's matrix state h: single_step uses the step path on token 0 (T must be 1),
// otherwise the chunked path from h; h ends as the state after the tokens. Returns o [B, T, H, V].
at::Tensor run_affine(ops::AffineScanArgs a, at::Tensor& h, bool single_step);
at::Tensor run_delta_rule(ops::DeltaRuleArgs a, at::Tensor& h, bool single_step);
// mLSTM state as a mixer state {C, n, m}.
at::Tensor run_mlstm(ops::MlstmArgs a, MixerState& state, bool single_step);

// The options of a model whose only own option is "n_heads" (default 2), read strictly.
struct HeadsModelOptions {
  AffineLmOptions lm;
  int64_t heads = 2;
};
HeadsModelOptions read_heads_model_options(const nlohmann::json& config, const std::string& kind);

// Builds such a model, with Mixer(lm_options, heads).
template <class Mixer>
std::shared_ptr<SequenceModel> make_heads_model(const nlohmann::json& config, const std::string& kind) {
  const HeadsModelOptions o = read_heads_model_options(config, kind);
  const AffineLmOptions lm = o.lm;
  const int64_t heads = o.heads;
  return std::make_shared<AffineLm>(kind, lm, nlohmann::json{{"n_heads", heads}},
                                    [=] { return std::make_shared<Mixer>(lm, heads); });
}

// Its parameters (ModelEntry::parameters): the QkvMixer's 5 D^2 + D / H per layer, plus what the
// model's mixer adds, `extra(D, H)` (gates, buffers).
double heads_model_parameters(const nlohmann::json& config, const std::string& kind,
                              double (*extra)(double d_model, double heads) = nullptr);

}  // namespace scanlab::models
