#include "models/affine/qkv_mixer.h"

#include "core/check.h"
#include "core/torch_compat.h"
#include "models/affine/affine_family.h"
#include "models/sequence_split.h"

namespace scanlab::models {

HeadsModelOptions read_heads_model_options(const nlohmann::json& config, const std::string& kind) {
  StrictJson r = model_config_reader(config, kind);
  HeadsModelOptions o;
  o.lm.read(r);
  o.heads = read_heads(r, o.heads, o.lm.d_model);
  r.finish();
  return o;
}

double heads_model_parameters(const nlohmann::json& config, const std::string& kind,
                              double (*extra)(double d_model, double heads)) {
  const HeadsModelOptions o = read_heads_model_options(config, kind);
  const double d = static_cast<double>(o.lm.d_model), h = static_cast<double>(o.heads);
  return affine_parameters(o.lm, 5.0 * d * d + d / h + (extra ? extra(d, h) : 0.0));
}

QkvMixer::QkvMixer(const AffineLmOptions& lm, int64_t heads, OutputGate gate)
    : d_model_(lm.d_model), heads_(heads), head_dim_(lm.d_model / heads), chunk_len_(lm.chunk_len), gate_(gate) {
  SCANLAB_CHECK(d_model_ % heads == 0, "n_heads = ", heads, " must divide d_model = ", d_model_);
  q_proj_ = linear("q_proj", d_model_, false);
  k_proj_ = linear("k_proj", d_model_, false);
  v_proj_ = linear("v_proj", d_model_, false);
  g_proj_ = linear("g_proj", d_model_, false);
  o_proj_ = register_module("o_proj", torch::nn::Linear(torch::nn::LinearOptions(d_model_, d_model_).bias(false)));
  o_norm_ = register_module("o_norm", std::make_shared<RmsNorm>(head_dim_, lm.norm_eps));
}

MixerState QkvMixer::initial_state(int64_t batch, const at::Tensor& param) const {
  return {zero_matrix_state(batch, heads_, head_dim_, head_dim_, param)};
}

at::Tensor QkvMixer::mix_affine(ops::AffineScanArgs a, const at::Tensor& x, MixerState& state, bool single_step) {
  a.chunk_len = chunk_len_;
  return output(run_affine(std::move(a), state.at(0), single_step), x);
}

torch::nn::Linear QkvMixer::linear(const std::string& name, int64_t out, bool bias) {
  return register_module(name, torch::nn::Linear(torch::nn::LinearOptions(d_model_, out).bias(bias)));
}

QkvMixer::Qkv QkvMixer::project(const at::Tensor& x) {
  return {split_heads(q_proj_(x), heads_), split_heads(k_proj_(x), heads_), split_heads(v_proj_(x), heads_)};
}

ops::AffineScanArgs QkvMixer::scaled_affine_args(const at::Tensor& x) {
  auto p = project(x);
  ops::AffineScanArgs a;
  a.q = p.q / std::sqrt(static_cast<double>(head_dim_));
  a.k = p.k;
  a.v = p.v;
  return a;
}

at::Tensor QkvMixer::output(const at::Tensor& o, const at::Tensor& x) {
  auto g = g_proj_(x);
  g = gate_ == OutputGate::Swish ? at::silu(g) : at::sigmoid(g);
  return o_proj_(merge_heads(o_norm_->forward(o)) * g);
}

at::Tensor zero_matrix_state(int64_t batch, int64_t heads, int64_t dk, int64_t dv, const at::Tensor& param) {
  return at::zeros({batch, heads, dk, dv}, param.options().dtype(ops::state_dtype(param.scalar_type())));
}

namespace {

at::Tensor first(const at::Tensor& t) { return t.defined() ? t.select(1, 0) : at::Tensor(); }

void check_single(const at::Tensor& q, bool single_step) {
  SCANLAB_CHECK(!single_step || q.size(1) == 1, "a mixer step takes one token, got T = ", q.size(1));
}

}  // namespace

at::Tensor run_affine(ops::AffineScanArgs a, at::Tensor& h, bool single_step) {
  check_single(a.q, single_step);
  CudaAutocastOff state_math_in_float32;
  if (single_step) return ops::affine_scan_step({first(a.q), first(a.k), first(a.v), first(a.log_a)}, h).unsqueeze(1);
  SequenceSplit* split = active_sequence_split();
  if (!split) a.h0 = h;  // a split starts the sequence from the zero state
  auto out = split ? split->affine_scan(a) : ops::affine_scan_chunked(a);
  h = out.h_final;
  return out.o;
}

at::Tensor run_delta_rule(ops::DeltaRuleArgs a, at::Tensor& h, bool single_step) {
  check_single(a.q, single_step);
  CudaAutocastOff state_math_in_float32;
  if (single_step)
    return ops::delta_rule_step({first(a.q), first(a.k), first(a.v), first(a.beta), first(a.log_a)}, h).unsqueeze(1);
  SequenceSplit* split = active_sequence_split();
  if (!split) a.h0 = h;
  auto out = split ? split->delta_rule(a) : ops::delta_rule_chunked(a);
  h = out.h_final;
  return out.o;
}

at::Tensor run_mlstm(ops::MlstmArgs a, MixerState& state, bool single_step) {
  check_single(a.q, single_step);
  CudaAutocastOff state_math_in_float32;
  ops::MlstmState s{state.at(0), state.at(1), state.at(2)};
  at::Tensor o;
  if (single_step) {
    o = ops::mlstm_step({first(a.q), first(a.k), first(a.v), first(a.log_f), first(a.log_i)}, s).unsqueeze(1);
  } else {
    SequenceSplit* split = active_sequence_split();
    if (!split) a.state0 = s;
    auto out = split ? split->mlstm(a) : ops::mlstm_chunked(a);
    s = out.state;
    o = out.o;
  }
  state = {s.C, s.n, s.m};
  return o;
}

}  // namespace scanlab::models
