// Op registry: one entry per op family (linear attention, scalar and diagonal gates, mLSTM, delta
// rule, gated delta rule) with a maker of random arguments and every evaluation path behind one
// calling form. The shared op test (tests/ops/test_op_paths.cpp) and the op benchmarks
// (bench/ops_bench.cpp, bench/affine_bench.cpp) walk it, so an op added here is covered by both;
// hand-computed cases stay in each family's own tests.
#pragma once
#include <ATen/ATen.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace scanlab::ops {

// Which recurrence an entry computes (the benchmarks' FLOP counts differ by it).
enum class OpKind { LinearAttention, ScalarGate, VectorGate, Mlstm, DeltaRule, GatedDeltaRule };

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

struct OpShape {
  int64_t B = 1, T = 1, H = 1, K = 1, V = 1;
  int64_t chunk = 64;
};

// How make_args draws. The defaults are the benchmarks' (small queries, gates near 1); the tests ask
// for larger queries and faster decay, so that their absolute tolerances bite.
struct OpDraw {
  at::ScalarType dtype = at::kFloat;  // inputs come back in it (drawn in float64 for float64, else float32)
  at::Device device = at::kCPU;       // drawn there, from a generator of its own seeded by `seed`
  uint64_t seed = 0;
  double q_scale = 0.1;           // q ~ N(0, 1) · q_scale; keys are always unit-norm (the delta rule needs it)
  double gate_bias = 3.0;         // log gates are log σ(N(gate_bias, 1))
  double input_gate_scale = 1.0;  // mLSTM's log i ~ N(0, 1) · input_gate_scale
  bool initial_state = false;     // draw a random state before the first token (else it is zeros)
};

// One call's arguments in the registry's form: the per-token inputs ([B, T, H, ·], q, k, v first,
// then gates and beta, named as the op's Args fields) and the state before the first token (empty:
// zeros; affine and delta rule h0, mLSTM C0, n0, m0).
struct OpArgs {
  NamedTensors inputs, state0;
  int64_t chunk = 64;
};

// o [B, T, H, V] and the final state (h_final; mLSTM C_final, n_final, m_final, stabilized), in the
// order of OpArgs::state0, so a final state can start the next call.
struct OpOut {
  at::Tensor o;
  NamedTensors state;
  NamedTensors all() const;  // o first, then the state
};

using OpPath = std::function<OpOut(const OpArgs&)>;

struct OpEntry {
  std::string name;  // `scanlab bench ops --ops` names it so
  std::string description;
  OpKind kind = OpKind::LinearAttention;
  std::string decay_input;  // the log decay (forget gate) input; empty where the state never decays
  std::function<OpArgs(const OpShape&, const OpDraw&)> make_args;
  OpPath reference;      // token loop, the readable definition (float64 in tests)
  OpPath chunked;        // the routed entry point (*_chunked: fused CUDA kernels where they take the call)
  OpPath chunked_torch;  // the device-generic torch form (mLSTM has only that one: its chunked path)
  OpPath blelloch;       // scan::tensor_blelloch_scan over (E, f) pairs
  OpPath step;           // the decode step, token by token from state0
  // The *_varlen entry point on a packed [1, total_T, ...] call (varlen.h).
  std::function<OpOut(const OpArgs&, const at::Tensor& cu_seqlens)> varlen;
  // The fused kernels with their state passes forced to `segments` runs where they take the call, the
  // routed entry point elsewhere (only the affine kernels split their state passes).
  std::function<OpOut(const OpArgs&, int segments)> chunked_segments;
  // What the routed entry point runs for these arguments: "fused" (the whole op in CUDA kernels),
  // "recurrence" (the delta rules' state recurrence alone as a kernel) or "torch". `fused_kernels`:
  // whether set_fused_chunked_kernels is on for the call.
  std::function<std::string(const OpArgs&, bool fused_kernels)> route;
};

const std::vector<OpEntry>& op_registry();
std::vector<std::string> op_names();
const OpEntry& find_op(const std::string& name);  // error lists the known names

// The tensor called `name` among `named`; an error naming the known ones if absent.
const at::Tensor& named(const NamedTensors& named, const std::string& name);

}  // namespace scanlab::ops
