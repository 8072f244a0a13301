// Mamba / S6 (Gu & Dao 2023) in the PSM template: an element-wise selective SSM, E_t = exp(Δ_t ⊙ A)
// per (channel, state) and f_t = (Δ_t ⊙ x_t) B_tᵀ, run as a diagonal affine scan with one head per
// inner channel (K = d_state, V = 1; ops::selective_scan_args). Block: in_proj -> [x | z], causal
// depthwise conv + SiLU on x, x_proj -> [Δ_raw (dt_rank) | B | C], Δ = softplus(dt_proj(Δ_raw)),
// the scan, + D x, * silu(z), out_proj. The stream state is the conv buffer and the [E, N, 1] scan state.
// Options: d_state, d_conv, expand, dt_rank (0: ceil(d_model / 16)). Mixer parameters: in_proj, conv,
// x_proj, dt_proj, A_log, D, out_proj.
#include "models/affine/affine_family.h"
#include "models/affine/qkv_mixer.h"
#include "models/affine/ssm_options.h"
#include "models/layers/causal_conv.h"

namespace scanlab::models {
namespace {

class MambaMixer : public TokenMixer {
 public:
  MambaMixer(const AffineLmOptions& lm, const SsmOptions& o, int64_t dt_rank)
      : o_(o), inner_(o.expand * lm.d_model), dt_rank_(dt_rank), chunk_len_(lm.chunk_len) {
    auto lin = [&](const char* name, int64_t in, int64_t out, bool bias) {
      return register_module(name, torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias)));
    };
    in_proj_ = lin("in_proj", lm.d_model, 2 * inner_, false);
    conv_ = register_module("conv", std::make_shared<CausalConv>(inner_, o.d_conv));
    x_proj_ = lin("x_proj", inner_, dt_rank + 2 * o.d_state, false);
    dt_proj_ = lin("dt_proj", dt_rank, inner_, true);
    {
      at::NoGradGuard no_grad;
      dt_proj_->bias.copy_(inverse_softplus_dt_bias(inner_));
    }
    A_log_ = register_parameter("A_log", at::log(at::arange(1, o.d_state + 1, at::kFloat)).repeat({inner_, 1}));
    D_ = register_parameter("D", at::ones({inner_}));
    out_proj_ = lin("out_proj", inner_, lm.d_model, false);
  }

  at::Tensor mix(const at::Tensor& x, MixerState& state, bool single_step) override {
    const int64_t N = o_.d_state;
    auto xz = in_proj_(x);
    auto xs = at::silu(conv_->forward(xz.narrow(-1, 0, inner_), state.at(0)));  // [B, T, E]
    auto z = xz.narrow(-1, inner_, inner_);
    auto proj = x_proj_(xs);
    auto delta = at::softplus(dt_proj_(proj.narrow(-1, 0, dt_rank_)));  // [B, T, E]
    auto a = ops::selective_scan_args(xs, delta, -A_log_.exp(), proj.narrow(-1, dt_rank_, N),
                                      proj.narrow(-1, dt_rank_ + N, N));
    a.chunk_len = chunk_len_;
    auto y = run_affine(a, state.at(1), single_step).squeeze(-1) + xs * D_;
    return out_proj_(y * at::silu(z));
  }
  MixerState initial_state(int64_t batch, const at::Tensor& param) const override {
    return {conv_->initial_state(batch, param), zero_matrix_state(batch, inner_, o_.d_state, 1, param)};
  }
  std::vector<std::string> state_names() const override { return {"conv", "h"}; }

 private:
  SsmOptions o_;
  int64_t inner_, dt_rank_, chunk_len_;
  torch::nn::Linear in_proj_{nullptr}, x_proj_{nullptr}, dt_proj_{nullptr}, out_proj_{nullptr};
  std::shared_ptr<CausalConv> conv_;
  at::Tensor A_log_, D_;
};

struct MambaOptions {
  AffineLmOptions lm;
  SsmOptions ssm;
  int64_t dt_rank = 0;  // 0: ceil(d_model / 16)
  int64_t rank() const { return dt_rank > 0 ? dt_rank : (lm.d_model + 15) / 16; }
};

MambaOptions read_options(const nlohmann::json& config) {
  StrictJson r = model_config_reader(config, "mamba");
  MambaOptions m;
  m.lm.read(r);
  m.ssm.read(r);
  r.read_at_least("dt_rank", m.dt_rank, 0);
  r.finish();
  return m;
}

// in_proj D -> 2E, conv (E x d_conv + E), x_proj E -> R + 2N, dt_proj R -> E with bias, A_log [E, N],
// D [E], out_proj E -> D.
double parameters(const nlohmann::json& config) {
  const MambaOptions m = read_options(config);
  const double d = static_cast<double>(m.lm.d_model), e = static_cast<double>(m.ssm.expand) * d;
  const double n = static_cast<double>(m.ssm.d_state), r = static_cast<double>(m.rank());
  const double mixer = d * 2.0 * e + e * (static_cast<double>(m.ssm.d_conv) + 1.0) + e * (r + 2.0 * n) + (r + 1.0) * e +
                       e * n + e + e * d;
  return affine_parameters(m.lm, mixer);
}

std::shared_ptr<SequenceModel> make(const nlohmann::json& config) {
  const MambaOptions m = read_options(config);
  const AffineLmOptions lm = m.lm;
  const SsmOptions o = m.ssm;
  nlohmann::json extra{{"dt_rank", m.dt_rank}};
  o.write(extra);
  const int64_t rank = m.rank();
  return std::make_shared<AffineLm>("mamba", lm, extra, [=] { return std::make_shared<MambaMixer>(lm, o, rank); });
}

}  // namespace

ModelEntry mamba_entry() {
  return {"mamba",
          "Mamba/S6: element-wise selective SSM with a short causal conv (affine PSM)",
          make,
          [] {
            auto c = affine_small_config("mamba");
            c["d_state"] = 4;
            return c;
          },
          [](const ModelSize& s) {  // one head per inner channel: no head count to size
            auto c = affine_sized_config("mamba", s, false);
            c["d_state"] = s.state_size;
            return c;
          },
          affine_evidence(),
          parameters};
}

}  // namespace scanlab::models
