// Gated linear attention (Yang et al. 2024) in the PSM template: a data-dependent diagonal gate
// E_t = Diag(α_t), log α_t = logsigmoid(W_up W_down x_t + b) / τ (low-rank, τ = gate_normalizer),
// f_t = k_t v_tᵀ; q scaled by 1/√K; per-head norm and swish output gate.
// Options: n_heads, gate_rank, gate_normalizer. Mixer parameters: q_proj, k_proj, v_proj, g_proj,
// o_proj, o_norm, gk_down, gk_up.
#include "models/affine/affine_family.h"
#include "models/affine/qkv_mixer.h"

namespace scanlab::models {
namespace {

struct GlaOptions {
  int64_t heads = 2;
  int64_t gate_rank = 16;
  double gate_normalizer = 16.0;
};

class GlaMixer : public QkvMixer {
 public:
  GlaMixer(const AffineLmOptions& lm, const GlaOptions& o) : QkvMixer(lm, o.heads, OutputGate::Swish), options_(o) {
    gk_down_ = linear("gk_down", o.gate_rank, false);
    gk_up_ = register_module("gk_up", torch::nn::Linear(torch::nn::LinearOptions(o.gate_rank, lm.d_model).bias(true)));
  }

  at::Tensor mix(const at::Tensor& x, MixerState& state, bool single_step) override {
    ops::AffineScanArgs a = scaled_affine_args(x);
    a.log_a = split_heads(at::log_sigmoid(gk_up_(gk_down_(x))) / options_.gate_normalizer, heads_);
    return mix_affine(a, x, state, single_step);
  }

 private:
  GlaOptions options_;
  torch::nn::Linear gk_down_{nullptr}, gk_up_{nullptr};
};

std::pair<AffineLmOptions, GlaOptions> read_options(const nlohmann::json& config) {
  StrictJson r = model_config_reader(config, "gla");
  AffineLmOptions lm;
  lm.read(r);
  GlaOptions o;
  o.heads = read_heads(r, o.heads, lm.d_model);
  r.read_at_least("gate_rank", o.gate_rank, 1);
  r.read_above("gate_normalizer", o.gate_normalizer, 0.0);
  r.finish();
  return {lm, o};
}

double parameters(const nlohmann::json& config) {
  const auto [lm, o] = read_options(config);
  const double d = static_cast<double>(lm.d_model), h = static_cast<double>(o.heads);
  const double rank = static_cast<double>(o.gate_rank);
  return affine_parameters(lm, 5.0 * d * d + d / h + d * rank + rank * d + d);  // QkvMixer, gk_down, gk_up
}

std::shared_ptr<SequenceModel> make(const nlohmann::json& config) {
  // Named copies, not a structured binding: a lambda may capture bindings only from C++20 (clang refuses).
  const auto options = read_options(config);
  const AffineLmOptions lm = std::get<0>(options);
  const auto o = std::get<1>(options);
  nlohmann::json extra{{"n_heads", o.heads}, {"gate_rank", o.gate_rank}, {"gate_normalizer", o.gate_normalizer}};
  return std::make_shared<AffineLm>("gla", lm, extra, [=] { return std::make_shared<GlaMixer>(lm, o); });
}

}  // namespace

ModelEntry gla_entry() {
  return {"gla",
          "Gated linear attention: data-dependent diagonal gate (affine PSM)",
          make,
          [] { return affine_small_config("gla"); },
          [](const ModelSize& s) { return affine_sized_config("gla", s); },
          affine_evidence(),
          parameters};
}

}  // namespace scanlab::models
