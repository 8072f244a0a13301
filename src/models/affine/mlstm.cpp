// mLSTM (xLSTM, Beck et al. 2024) in the PSM template: scalar forget gate f_t = sigmoid(f̃_t),
// exponential input gate i_t = exp(ĩ_t), normalizer n_t and max stabilizer m_t (ops/affine_scan/
// mlstm.h); k scaled by 1/√K; per-head norm and a sigmoid output gate (the xLSTM o_t).
// Forget biases start in [3, 6] so that early training remembers (as in xLSTM).
// Options: n_heads. Mixer parameters: q_proj, k_proj, v_proj, g_proj, o_proj, o_norm, i_proj, f_proj.
#include "models/affine/affine_family.h"
#include "models/affine/qkv_mixer.h"

namespace scanlab::models {
namespace {

class MlstmMixer : public QkvMixer {
 public:
  MlstmMixer(const AffineLmOptions& lm, int64_t heads) : QkvMixer(lm, heads, OutputGate::Sigmoid) {
    i_proj_ = linear("i_proj", heads, true);
    f_proj_ = linear("f_proj", heads, true);
    at::NoGradGuard no_grad;
    f_proj_->bias.copy_(at::linspace(3.0, 6.0, heads));
  }

  at::Tensor mix(const at::Tensor& x, MixerState& state, bool single_step) override {
    auto p = project(x);
    ops::MlstmArgs a;
    a.q = p.q;
    a.k = p.k / std::sqrt(static_cast<double>(head_dim_));
    a.v = p.v;
    a.log_f = at::log_sigmoid(f_proj_(x));  // [B, T, H]
    a.log_i = i_proj_(x);
    a.chunk_len = chunk_len_;
    return output(run_mlstm(a, state, single_step), x);
  }
  MixerState initial_state(int64_t batch, const at::Tensor& param) const override {
    auto s = ops::mlstm_zero_state(batch, heads_, head_dim_, head_dim_,
                                   param.options().dtype(ops::state_dtype(param.scalar_type())));
    return {s.C, s.n, s.m};
  }
  std::vector<std::string> state_names() const override { return {"C", "n", "m"}; }

 private:
  torch::nn::Linear i_proj_{nullptr}, f_proj_{nullptr};
};

}  // namespace

ModelEntry mlstm_entry() {
  return {"mlstm",
          "mLSTM: exponential input gate, normalizer and max stabilizer (affine PSM)",
          [](const nlohmann::json& c) { return make_heads_model<MlstmMixer>(c, "mlstm"); },
          [] { return affine_small_config("mlstm"); },
          [](const ModelSize& s) { return affine_sized_config("mlstm", s); },
          affine_evidence(),
          [](const nlohmann::json& c) {  // i_proj, f_proj with biases
            return heads_model_parameters(c, "mlstm", [](double d, double h) { return 2.0 * (d * h + h); });
          }};
}

}  // namespace scanlab::models
