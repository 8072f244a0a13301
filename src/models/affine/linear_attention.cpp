// Linear attention (Katharopoulos et al. 2020) in the PSM template: identity gate E_t = I,
// f_t = k_t v_tᵀ with feature map φ(x) = elu(x) + 1 on q and k, q scaled by 1/√K. Instead of the
// φ(q)·z normalizer the per-head output RMSNorm keeps the scale (as fla's default does).
// Options: n_heads. Mixer parameters: q_proj, k_proj, v_proj, g_proj, o_proj, o_norm.
#include "models/affine/affine_family.h"
#include "models/affine/qkv_mixer.h"

namespace scanlab::models {
namespace {

class LinearAttentionMixer : public QkvMixer {
 public:
  LinearAttentionMixer(const AffineLmOptions& lm, int64_t heads) : QkvMixer(lm, heads, OutputGate::Swish) {}

  at::Tensor mix(const at::Tensor& x, MixerState& state, bool single_step) override {
    auto p = project(x);
    auto feature = [](const at::Tensor& t) { return at::elu(t) + 1.0; };
    ops::AffineScanArgs a;
    a.q = feature(p.q) / std::sqrt(static_cast<double>(head_dim_));
    a.k = feature(p.k);
    a.v = p.v;
    return mix_affine(a, x, state, single_step);
  }
};

}  // namespace

ModelEntry linear_attention_entry() {
  return {"linear_attention",
          "Linear attention: identity gate, elu+1 features (affine PSM)",
          [](const nlohmann::json& c) { return make_heads_model<LinearAttentionMixer>(c, "linear_attention"); },
          [] { return affine_small_config("linear_attention"); },
          [](const ModelSize& s) { return affine_sized_config("linear_attention", s); },
          affine_evidence(),
          [](const nlohmann::json& c) { return heads_model_parameters(c, "linear_attention"); }};
}

}  // namespace scanlab::models
