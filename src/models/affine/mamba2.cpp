// Mamba2 / SSD (Dao & Gu 2024) in the PSM template: per-head data-dependent scalar gate
// E_t = exp(-Δ_t exp(A_log)), f_t = (Δ_t x_t) B_tᵀ with value x (head dim P), key B and query C (N).
// Block: in_proj -> [z | x B C | Δ], causal depthwise conv + SiLU over x B C, the scan, + D x,
// gated RMSNorm y * silu(z), out_proj. The stream state is the conv buffer and the [H, N, P] scan state.
// Options: n_heads, d_state, d_conv, expand. Mixer parameters: in_proj, conv, A_log, dt_bias, D,
// norm, out_proj.
#include "models/affine/affine_family.h"
#include "models/affine/qkv_mixer.h"
#include "models/affine/ssm_options.h"
#include "models/layers/causal_conv.h"

namespace scanlab::models {
namespace {

class Mamba2Mixer : public TokenMixer {
 public:
  Mamba2Mixer(const AffineLmOptions& lm, const SsmOptions& o, int64_t heads)
      : o_(o), heads_(heads), inner_(o.expand * lm.d_model), chunk_len_(lm.chunk_len) {
    const int64_t conv_dim = inner_ + 2 * o.d_state;
    in_proj_ = register_module(
        "in_proj", torch::nn::Linear(torch::nn::LinearOptions(lm.d_model, inner_ + conv_dim + heads).bias(false)));
    conv_ = register_module("conv", std::make_shared<CausalConv>(conv_dim, o.d_conv));
    A_log_ = register_parameter("A_log", at::log(at::linspace(1.0, 16.0, heads)));
    dt_bias_ = register_parameter("dt_bias", inverse_softplus_dt_bias(heads));
    D_ = register_parameter("D", at::ones({heads}));
    norm_ = register_module("norm", std::make_shared<RmsNorm>(inner_, lm.norm_eps));
    out_proj_ =
        register_module("out_proj", torch::nn::Linear(torch::nn::LinearOptions(inner_, lm.d_model).bias(false)));
  }

  at::Tensor mix(const at::Tensor& x, MixerState& state, bool single_step) override {
    const int64_t N = o_.d_state, Bn = x.size(0), T = x.size(1);
    auto zxbcdt = in_proj_(x);
    auto z = zxbcdt.narrow(-1, 0, inner_);
    auto xbc = at::silu(conv_->forward(zxbcdt.narrow(-1, inner_, inner_ + 2 * N), state.at(0)));
    auto dt = at::softplus(zxbcdt.narrow(-1, 2 * inner_ + 2 * N, heads_) + dt_bias_);  // [B, T, H]
    auto xs = split_heads(xbc.narrow(-1, 0, inner_), heads_);                          // [B, T, H, P]
    ops::AffineScanArgs a;
    a.q = xbc.narrow(-1, inner_ + N, N).unsqueeze(2).expand({Bn, T, heads_, N});  // C
    a.k = xbc.narrow(-1, inner_, N).unsqueeze(2).expand({Bn, T, heads_, N});      // B
    a.v = xs * dt.unsqueeze(-1);
    a.log_a = -A_log_.exp() * dt;
    a.chunk_len = chunk_len_;
    auto y = run_affine(a, state.at(1), single_step) + xs * D_.unsqueeze(-1);
    return out_proj_(norm_->forward(merge_heads(y) * at::silu(z)));
  }
  MixerState initial_state(int64_t batch, const at::Tensor& param) const override {
    return {conv_->initial_state(batch, param), zero_matrix_state(batch, heads_, o_.d_state, inner_ / heads_, param)};
  }
  std::vector<std::string> state_names() const override { return {"conv", "h"}; }

 private:
  SsmOptions o_;
  int64_t heads_, inner_, chunk_len_;
  torch::nn::Linear in_proj_{nullptr}, out_proj_{nullptr};
  std::shared_ptr<CausalConv> conv_;
  std::shared_ptr<RmsNorm> norm_;
  at::Tensor A_log_, dt_bias_, D_;
};

struct Mamba2Options {
  AffineLmOptions lm;
  SsmOptions ssm;
  int64_t heads = 2;
};

Mamba2Options read_options(const nlohmann::json& config) {
  StrictJson r = model_config_reader(config, "mamba2");
  Mamba2Options m;
  m.lm.read(r);
  m.ssm.read(r);
  m.heads = read_heads(r, m.heads, m.ssm.expand * m.lm.d_model);
  r.finish();
  return m;
}

// in_proj D -> E + (E + 2N) + H, conv over E + 2N channels (weights and bias), A_log, dt_bias, D [H],
// norm [E], out_proj E -> D.
double parameters(const nlohmann::json& config) {
  const Mamba2Options m = read_options(config);
  const double d = static_cast<double>(m.lm.d_model), e = static_cast<double>(m.ssm.expand) * d;
  const double h = static_cast<double>(m.heads), conv = e + 2.0 * static_cast<double>(m.ssm.d_state);
  const double mixer = d * (e + conv + h) + conv * (static_cast<double>(m.ssm.d_conv) + 1.0) + 3.0 * h + e + e * d;
  return affine_parameters(m.lm, mixer);
}

std::shared_ptr<SequenceModel> make(const nlohmann::json& config) {
  const Mamba2Options m = read_options(config);
  const AffineLmOptions lm = m.lm;
  const SsmOptions o = m.ssm;
  const int64_t heads = m.heads;
  nlohmann::json extra{{"n_heads", heads}};
  o.write(extra);
  return std::make_shared<AffineLm>("mamba2", lm, extra, [=] { return std::make_shared<Mamba2Mixer>(lm, o, heads); });
}

}  // namespace

ModelEntry mamba2_entry() {
  return {"mamba2",
          "Mamba2/SSD: per-head data-dependent scalar decay, short conv (affine PSM)",
          make,
          [] {
            auto c = affine_small_config("mamba2");
            c["d_state"] = 8;
            return c;
          },
          [](const ModelSize& s) {  // heads over the inner width expand * d_model (head dim P)
            auto c = affine_sized_config("mamba2", s, false);
            c["d_state"] = s.state_size;
            c["n_heads"] = s.heads_for(SsmOptions{}.expand * s.width);
            return c;
          },
          affine_evidence(),
          parameters};
}

}  // namespace scanlab::models
