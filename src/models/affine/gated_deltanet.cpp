// Gated DeltaNet (Yang et al. 2024) in the PSM template: E_t = α_t (I - β_t k_t k_tᵀ), f_t = β_t k_t v_tᵀ
// (ops/delta_rule). q and k pass through SiLU and per-head L2 normalization (so I - βkkᵀ is a
// contraction), q scaled by 1/√K; β_t = sigmoid(W_β x_t); α_t = exp(-exp(A_log) softplus(W_α x_t + dt_bias))
// as in Mamba2. The short convolutions of the paper's block are left out; the recurrence is exact.
// Options: n_heads. Mixer parameters: q_proj, k_proj, v_proj, g_proj, o_proj, o_norm, b_proj, a_proj,
// A_log, dt_bias.
#include "models/affine/affine_family.h"
#include "models/affine/qkv_mixer.h"

namespace scanlab::models {
namespace {

class GatedDeltaNetMixer : public QkvMixer {
 public:
  GatedDeltaNetMixer(const AffineLmOptions& lm, int64_t heads) : QkvMixer(lm, heads, OutputGate::Swish) {
    b_proj_ = linear("b_proj", heads, false);
    a_proj_ = linear("a_proj", heads, false);
    A_log_ = register_parameter("A_log", at::log(at::linspace(1.0, 16.0, heads)));
    dt_bias_ = register_parameter("dt_bias", at::full({heads}, std::log(std::expm1(0.01))));
  }

  at::Tensor mix(const at::Tensor& x, MixerState& state, bool single_step) override {
    auto p = project(x);
    auto unit = [](const at::Tensor& t) {
      auto s = at::silu(t);
      return s / (s.pow(2).sum(-1, true) + 1e-12).sqrt();
    };
    ops::DeltaRuleArgs a;
    a.q = unit(p.q) / std::sqrt(static_cast<double>(head_dim_));
    a.k = unit(p.k);
    a.v = p.v;
    a.beta = at::sigmoid(b_proj_(x));
    a.log_a = -A_log_.exp() * at::softplus(a_proj_(x) + dt_bias_);
    a.chunk_len = chunk_len_;
    return output(run_delta_rule(a, state.at(0), single_step), x);
  }

 private:
  torch::nn::Linear b_proj_{nullptr}, a_proj_{nullptr};
  at::Tensor A_log_, dt_bias_;
};

}  // namespace

ModelEntry gated_deltanet_entry() {
  return {"gated_deltanet",
          "Gated DeltaNet: gated delta rule, chunked WY/UT form (affine PSM)",
          [](const nlohmann::json& c) { return make_heads_model<GatedDeltaNetMixer>(c, "gated_deltanet"); },
          [] { return affine_small_config("gated_deltanet"); },
          [](const ModelSize& s) { return affine_sized_config("gated_deltanet", s); },
          affine_evidence(),
          [](const nlohmann::json& c) {  // b_proj, a_proj, A_log, dt_bias
            return heads_model_parameters(c, "gated_deltanet",
                                          [](double d, double h) { return 2.0 * d * h + 2.0 * h; });
          }};
}

}  // namespace scanlab::models
