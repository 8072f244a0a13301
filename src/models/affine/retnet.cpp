// RetNet retention (Sun et al. 2023) in the PSM template: a fixed decay per head,
// γ_h = 1 - 2^(-5-h), so E_t = γ_h (scalar) and f_t = k_t v_tᵀ; q scaled by 1/√K, per-head norm and a
// swish output gate as in the paper. The xPos rotation is left out (it is a reparametrisation of
// q and k by position and does not change the recurrence).
// Options: n_heads. Mixer parameters: q_proj, k_proj, v_proj, g_proj, o_proj, o_norm.
#include <cmath>

#include "models/affine/affine_family.h"
#include "models/affine/qkv_mixer.h"

namespace scanlab::models {
namespace {

class RetentionMixer : public QkvMixer {
 public:
  RetentionMixer(const AffineLmOptions& lm, int64_t heads) : QkvMixer(lm, heads, OutputGate::Swish) {
    std::vector<double> log_decay;
    for (int64_t h = 0; h < heads; ++h) log_decay.push_back(std::log1p(-std::pow(2.0, -5.0 - static_cast<double>(h))));
    log_decay_ = register_buffer("log_decay", at::tensor(log_decay, at::kFloat));
  }

  at::Tensor mix(const at::Tensor& x, MixerState& state, bool single_step) override {
    ops::AffineScanArgs a = scaled_affine_args(x);
    a.log_a = log_decay_.to(x.scalar_type()).expand({x.size(0), x.size(1), heads_});
    return mix_affine(a, x, state, single_step);
  }

 private:
  at::Tensor log_decay_;  // [H]
};

}  // namespace

ModelEntry retnet_entry() {
  return {"retnet",
          "RetNet retention: fixed per-head decay 1 - 2^(-5-h) (affine PSM)",
          [](const nlohmann::json& c) { return make_heads_model<RetentionMixer>(c, "retnet"); },
          [] { return affine_small_config("retnet"); },
          [](const ModelSize& s) { return affine_sized_config("retnet", s); },
          affine_evidence(),
          [](const nlohmann::json& c) {  // the log_decay buffer [H]
            return heads_model_parameters(c, "retnet", [](double, double h) { return h; });
          }};
}

}  // namespace scanlab::models
