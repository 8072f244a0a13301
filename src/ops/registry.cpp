#include "ops/registry.h"

#include <ATen/CPUGeneratorImpl.h>

#include <mutex>
#include <tuple>
#include <utility>

#include "core/check.h"
#include "core/registry.h"
#include "core/text.h"
#include "ops/affine_scan/affine_scan.h"
#include "ops/affine_scan/mlstm.h"
#include "ops/delta_rule/delta_rule.h"
#include "ops/varlen.h"

namespace scanlab::ops {

NamedTensors OpOut::all() const {
  NamedTensors out{{"o", o}};
  out.insert(out.end(), state.begin(), state.end());
  return out;
}

const at::Tensor& named(const NamedTensors& tensors, const std::string& name) {
  std::vector<std::string> known;
  for (const auto& [n, t] : tensors) {
    if (n == name) return t;
    known.push_back(n);
  }
  SCANLAB_FAIL("op arguments: no tensor '", name, "'; there are ", known.empty() ? "none" : join(known));
}

namespace {

// The tensor called `name`, or an undefined one (an optional Args field: no gate, zero state).
at::Tensor optional_tensor(const NamedTensors& tensors, const std::string& name) {
  for (const auto& [n, t] : tensors)
    if (n == name) return t;
  return {};
}

// Draws on the call's device from a generator of its own: a seed gives the same inputs whatever else
// drew before, and large benchmark inputs are drawn where they are used (no host-side copy).
class Drawer {
 public:
  explicit Drawer(const OpDraw& d) : d_(d), gen_(generator(d)) {}

  at::Tensor randn(at::IntArrayRef sizes) {
    const auto dtype = d_.dtype == at::kDouble ? at::kDouble : at::kFloat;
    return at::randn(sizes, gen_, at::TensorOptions().device(d_.device).dtype(dtype));
  }
  at::Tensor log_gate(at::IntArrayRef sizes) { return at::log_sigmoid(randn(sizes) + d_.gate_bias); }

 private:
  static at::Generator generator(const OpDraw& d) {
    if (d.device.is_cpu()) return at::make_generator<at::CPUGeneratorImpl>(d.seed);
    at::Generator global = at::globalContext().defaultGenerator(d.device);  // a handle: mutex() is non-const
    at::Generator own;
    {
      std::lock_guard<std::mutex> lock(global.mutex());
      own = global.clone();
    }
    own.set_current_seed(d.seed);
    return own;
  }

  OpDraw d_;
  at::Generator gen_;
};

// q, k, v first (keys unit-norm: the delta rule's I - βkkᵀ stays a contraction), then the family's
// `extra` inputs, then the initial state; everything cast to the requested dtype at the end.
template <class Extra, class State>
OpArgs draw_args(const OpShape& s, const OpDraw& d, Extra extra, State state) {
  Drawer r(d);
  const at::Tensor k = r.randn({s.B, s.T, s.H, s.K});
  OpArgs a;
  a.inputs = {{"q", r.randn({s.B, s.T, s.H, s.K}) * d.q_scale},
              {"k", k / k.norm(2, -1, true)},
              {"v", r.randn({s.B, s.T, s.H, s.V})}};
  extra(r, a.inputs);
  if (d.initial_state) state(r, a.state0);
  a.chunk = s.chunk;
  for (auto* group : {&a.inputs, &a.state0})
    for (auto& [name, t] : *group) t = t.to(d.dtype);
  return a;
}

void draw_h0(const OpShape& s, Drawer& r, NamedTensors& state0) {
  state0.push_back({"h0", r.randn({s.B, s.H, s.K, s.V})});
}

// q, k, v of a call, the first fields of every family's Args.
std::tuple<at::Tensor, at::Tensor, at::Tensor> qkv(const OpArgs& a) {
  return {named(a.inputs, "q"), named(a.inputs, "k"), named(a.inputs, "v")};
}

// The [B, H, K, V] state a step loop starts from: a copy of h0 in the state dtype (the CUDA steps
// write in place, and h0 is the caller's), or zeros.
at::Tensor first_state(const at::Tensor& h0, const at::Tensor& q, const at::Tensor& v) {
  const auto sd = q.options().dtype(state_dtype(q.scalar_type()));
  return h0.defined() ? h0.to(sd).clone() : at::zeros({q.size(0), q.size(2), q.size(3), v.size(3)}, sd);
}

// The step loop of a family whose state is one [B, H, K, V] tensor (affine scan, delta rule):
// `step(t, h)` returns o_t and advances h.
template <class Args, class Step>
OpOut steps_over_h(const Args& a, Step step) {
  at::Tensor h = first_state(a.h0, a.q, a.v);
  std::vector<at::Tensor> os;
  for (int64_t t = 0; t < a.q.size(1); ++t) os.push_back(step(t, h));
  return {at::stack(os, 1), {{"h_final", h}}};
}

// Token t of an optional per-token input (an undefined gate stays undefined).
at::Tensor at_token(const at::Tensor& x, int64_t t) { return x.defined() ? x.select(1, t) : at::Tensor(); }

OpEntry entry_named(std::string name, std::string description, OpKind kind, std::string decay_input) {
  OpEntry e;
  e.name = std::move(name);
  e.description = std::move(description);
  e.kind = kind;
  e.decay_input = std::move(decay_input);
  return e;
}

// The paths every family has, each a call of the family's function through its converters from the
// registry's argument form (`in`) and to its output form (`out`).
template <class Args, class Out>
void set_paths(OpEntry& e, Args (*in)(const OpArgs&), OpOut (*out)(const Out&), Out (*reference)(const Args&),
               Out (*chunked)(const Args&), Out (*chunked_torch)(const Args&), Out (*blelloch)(const Args&),
               Out (*varlen)(const Args&, const at::Tensor&)) {
  auto wrap = [in, out](Out (*f)(const Args&)) -> OpPath { return [=](const OpArgs& a) { return out(f(in(a))); }; };
  e.reference = wrap(reference);
  e.chunked = wrap(chunked);
  e.chunked_torch = wrap(chunked_torch);
  e.blelloch = wrap(blelloch);
  e.varlen = [in, out, varlen](const OpArgs& a, const at::Tensor& cu) { return out(varlen(in(a), cu)); };
}

// --- affine scan: identity, scalar and diagonal gates ---

AffineScanArgs affine_args(const OpArgs& a) {
  const auto [q, k, v] = qkv(a);
  return {q, k, v, optional_tensor(a.inputs, "log_a"), optional_tensor(a.state0, "h0"), a.chunk};
}

OpOut affine_out(const AffineScanOut& out) { return {out.o, {{"h_final", out.h_final}}}; }

OpOut affine_steps(const OpArgs& args) {
  const AffineScanArgs a = affine_args(args);
  check_affine_scan_args(a);
  return steps_over_h(a, [&](int64_t t, at::Tensor& h) {
    return affine_scan_step({a.q.select(1, t), a.k.select(1, t), a.v.select(1, t), at_token(a.log_a, t)}, h);
  });
}

OpEntry affine_entry(const std::string& name, const std::string& description, OpKind kind, GateKind gate) {
  OpEntry e = entry_named(name, description, kind, gate == GateKind::Identity ? "" : "log_a");
  e.make_args = [gate](const OpShape& s, const OpDraw& d) {
    return draw_args(
        s, d,
        [&](Drawer& r, NamedTensors& in) {
          if (gate == GateKind::Scalar) in.push_back({"log_a", r.log_gate({s.B, s.T, s.H})});
          if (gate == GateKind::Diagonal) in.push_back({"log_a", r.log_gate({s.B, s.T, s.H, s.K})});
        },
        [&](Drawer& r, NamedTensors& state0) { draw_h0(s, r, state0); });
  };
  set_paths(e, affine_args, affine_out, affine_scan_ref, affine_scan_chunked, affine_scan_chunked_torch,
            affine_scan_blelloch, affine_scan_varlen);
  e.step = affine_steps;
  e.chunked_segments = [](const OpArgs& args, int segments) {
    const AffineScanArgs a = affine_args(args);
    return affine_out(segments > 0 && affine_scan_chunked_cuda_supports(a)
                          ? affine_scan_chunked_cuda(a, false, segments)
                          : affine_scan_chunked(a));
  };
  e.route = [](const OpArgs& args, bool fused_kernels) -> std::string {
    const AffineScanArgs a = affine_args(args);
    const bool fused = affine_scan_chunked_cuda_supports(a) || affine_scan_chunked_vector_gate_cuda_supports(a);
    return fused_kernels && fused ? "fused" : "torch";
  };
  return e;
}

// --- mLSTM ---

MlstmArgs mlstm_args(const OpArgs& a) {
  const auto [q, k, v] = qkv(a);
  const NamedTensors& s = a.state0;
  return {q,
          k,
          v,
          named(a.inputs, "log_f"),
          named(a.inputs, "log_i"),
          {optional_tensor(s, "C0"), optional_tensor(s, "n0"), optional_tensor(s, "m0")},
          a.chunk};
}

OpOut mlstm_out(const MlstmOut& out) {
  return {out.o, {{"C_final", out.state.C}, {"n_final", out.state.n}, {"m_final", out.state.m}}};
}

OpOut mlstm_steps(const OpArgs& args) {
  const MlstmArgs a = mlstm_args(args);
  check_mlstm_args(a);
  const auto sd = a.q.options().dtype(state_dtype(a.q.scalar_type()));
  MlstmState s = mlstm_zero_state(a.q.size(0), a.q.size(2), a.q.size(3), a.v.size(3), sd);
  // Copies: the CUDA step updates the state in place, and state0 is the caller's.
  if (a.state0.C.defined()) s = {a.state0.C.to(sd).clone(), a.state0.n.to(sd).clone(), a.state0.m.to(sd).clone()};
  std::vector<at::Tensor> os;
  for (int64_t t = 0; t < a.q.size(1); ++t)
    os.push_back(mlstm_step(
        {a.q.select(1, t), a.k.select(1, t), a.v.select(1, t), a.log_f.select(1, t), a.log_i.select(1, t)}, s));
  return mlstm_out({at::stack(os, 1), s});
}

OpEntry mlstm_entry() {
  OpEntry e = entry_named("mlstm", "mLSTM: scalar forget gate, exponential input gate, normalizer and max stabilizer",
                          OpKind::Mlstm, "log_f");
  e.make_args = [](const OpShape& s, const OpDraw& d) {
    return draw_args(
        s, d,
        [&](Drawer& r, NamedTensors& in) {
          in.push_back({"log_f", r.log_gate({s.B, s.T, s.H})});
          in.push_back({"log_i", r.randn({s.B, s.T, s.H}) * d.input_gate_scale});
        },
        [&](Drawer& r, NamedTensors& state0) {
          state0 = {{"C0", r.randn({s.B, s.H, s.K, s.V})},
                    {"n0", r.randn({s.B, s.H, s.K}).abs()},
                    {"m0", r.randn({s.B, s.H})}};
        });
  };
  // mLSTM has one chunked form, the torch one.
  set_paths(e, mlstm_args, mlstm_out, mlstm_ref, mlstm_chunked, mlstm_chunked, mlstm_blelloch, mlstm_varlen);
  e.step = mlstm_steps;
  e.route = [](const OpArgs&, bool) -> std::string { return "torch"; };  // no fused chunked kernels
  return e;
}

// --- delta rule, gated or not ---

DeltaRuleArgs delta_args(const OpArgs& a) {
  const auto [q, k, v] = qkv(a);
  return {q,      k, v, named(a.inputs, "beta"), optional_tensor(a.inputs, "log_a"), optional_tensor(a.state0, "h0"),
          a.chunk};
}

OpOut delta_out(const DeltaRuleOut& out) { return {out.o, {{"h_final", out.h_final}}}; }

OpOut delta_steps(const OpArgs& args) {
  const DeltaRuleArgs a = delta_args(args);
  check_delta_rule_args(a);
  return steps_over_h(a, [&](int64_t t, at::Tensor& h) {
    return delta_rule_step(
        {a.q.select(1, t), a.k.select(1, t), a.v.select(1, t), a.beta.select(1, t), at_token(a.log_a, t)}, h);
  });
}

OpEntry delta_entry(const std::string& name, const std::string& description, OpKind kind, bool gated) {
  OpEntry e = entry_named(name, description, kind, gated ? "log_a" : "");
  e.make_args = [gated](const OpShape& s, const OpDraw& d) {
    return draw_args(
        s, d,
        [&](Drawer& r, NamedTensors& in) {
          in.push_back({"beta", at::sigmoid(r.randn({s.B, s.T, s.H}))});
          if (gated) in.push_back({"log_a", r.log_gate({s.B, s.T, s.H})});
        },
        [&](Drawer& r, NamedTensors& state0) { draw_h0(s, r, state0); });
  };
  set_paths(e, delta_args, delta_out, delta_rule_ref, delta_rule_chunked, delta_rule_chunked_torch, delta_rule_blelloch,
            delta_rule_varlen);
  e.step = delta_steps;
  e.route = [](const OpArgs& args, bool fused_kernels) -> std::string {
    const DeltaRuleArgs a = delta_args(args);
    if (fused_kernels && delta_rule_chunked_wy_cuda_supports(a)) return "fused";
    return delta_rule_chunked_cuda_supports(a) ? "recurrence" : "torch";
  };
  return e;
}

}  // namespace

const std::vector<OpEntry>& op_registry() {
  // The benchmarks print rows in this order.
  static const std::vector<OpEntry> entries = {
      affine_entry("linear_attn", "linear attention: affine scan with the identity gate", OpKind::LinearAttention,
                   GateKind::Identity),
      affine_entry("scalar_gate", "affine scan with one decay per head (RetNet, Mamba2/SSD)", OpKind::ScalarGate,
                   GateKind::Scalar),
      affine_entry("gla", "affine scan with a decay per key (GLA; Mamba/S6 with V = 1)", OpKind::VectorGate,
                   GateKind::Diagonal),
      mlstm_entry(),
      delta_entry("delta_rule", "delta rule (DeltaNet): beta, no decay", OpKind::DeltaRule, false),
      delta_entry("gated_delta_rule", "gated delta rule (Gated DeltaNet): beta and a decay per head",
                  OpKind::GatedDeltaRule, true),
  };
  return entries;
}

std::vector<std::string> op_names() { return names_of(op_registry()); }

const OpEntry& find_op(const std::string& name) { return find_by_name(op_registry(), name, "op"); }

}  // namespace scanlab::ops
