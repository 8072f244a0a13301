// Affine recurrences with a gated outer-product input (PSM paper §1.2-1.5, table §2):
//   h_t = a_t ▶ h_{t-1} + k_t v_tᵀ,   o_t = h_tᵀ q_t
// where the gate a_t = exp(log_a_t) is the identity (linear attention), one scalar per head
// (RetNet, Mamba2/SSD) or a diagonal over K (GLA; Mamba/S6 with H = channels, V = 1).
// Shapes: q, k [B, T, H, K]; v [B, T, H, V]; log_a undefined, [B, T, H] or [B, T, H, K];
// h [B, H, K, V]. The state is kept in float32 or wider (float64 inputs keep float64); outputs
// come back in the dtype of q. Every path computes the same function:
//   _ref      token loop, the readable definition
//   _chunked  intra-chunk matmuls + inter-chunk state passing, gates as cumulative log decay
//   _blelloch scan::tensor_blelloch_scan over (E, f) pairs, Agg((Ea,fa),(Eb,fb)) = (Eb∘Ea, fb + Eb▶fa)
//   _step     one token, for decoding (CUDA kernel where supported)
#pragma once
#include <ATen/ATen.h>

namespace scanlab::ops {

enum class GateKind { Identity, Scalar, Diagonal };

struct AffineScanArgs {
  at::Tensor q, k, v;  // [B, T, H, K], [B, T, H, K], [B, T, H, V]
  at::Tensor log_a;    // undefined (identity), [B, T, H] (scalar) or [B, T, H, K] (diagonal); <= 0 decays
  at::Tensor h0;       // [B, H, K, V] state before the first token; undefined means zeros
  int64_t chunk_len = 64;
};

struct AffineScanOut {
  at::Tensor o;        // [B, T, H, V], dtype of q
  at::Tensor h_final;  // [B, H, K, V], state dtype (float32 or float64)
};

// One token: q, k [B, H, K], v [B, H, V], log_a undefined / [B, H] / [B, H, K].
struct AffineStepArgs {
  at::Tensor q, k, v, log_a;
};

// The dtype the state and the chunked accumulation use for inputs of dtype `t`.
at::ScalarType state_dtype(at::ScalarType t);

GateKind gate_kind(const at::Tensor& log_a, int64_t dims_without_gate);
void check_affine_scan_args(const AffineScanArgs& a);  // names the tensor, its shape and the shape expected
void check_affine_step_args(const AffineStepArgs& a, const at::Tensor& h);

AffineScanOut affine_scan_ref(const AffineScanArgs& a);
// Routes to the chunked torch form, except where a faster path computes the same function: the
// fused chunked kernels below, and for diagonal gates with a narrow value the fused V = 1 scan
// (diagonal_scan.h) or, for 1 < V < kTokenLoopMaxValueDim, the token loop (see dispatch.cpp).
constexpr int64_t kTokenLoopMaxValueDim = 8;
AffineScanOut affine_scan_chunked(const AffineScanArgs& a);
// The path affine_scan_chunked takes for these arguments (it decides by this function), named after
// the function that runs: affine_scan_chunked_cuda, affine_scan_chunked_vector_gate_cuda,
// affine_scan_diagonal_single_value, affine_scan_ref, affine_scan_chunked_torch. Tests and
// benchmarks can tell with it which path ran. Checks the arguments as affine_scan_chunked does.
enum class AffineScanChunkedPath { ChunkedCuda, ChunkedVectorGateCuda, DiagonalSingleValue, TokenLoop, ChunkedTorch };
AffineScanChunkedPath affine_scan_chunked_path(const AffineScanArgs& a);
AffineScanOut affine_scan_chunked_torch(const AffineScanArgs& a);  // device-generic torch ops
// The fused CUDA kernels of the chunked form for identity and scalar gates (cuda/chunk_gate.cu,
// chunk_gate_cuda.cpp): bfloat16 q, k, v on a GPU of compute capability 8.0 or later, K and V of 64
// or 128; outputs and gradients through autograd like the other paths. affine_scan_chunked takes
// them whenever supports() accepts. Their chunk length is their own (64 tokens; chunk_len changes
// only the order of the sums). `poison_outputs` fills outputs and scratch with NaN first (tests: every
// element is written). `state_segments` splits the passes over chunk states over the sequence: 0
// lets the device's SM count decide (a split only when B·H·(K/64)·(V/64) is below it), n > 0 forces n
// runs (at most one per chunk; 1: unsplit). affine_scan_chunked_cuda_segments says how many runs a
// call with these arguments takes. Without a CUDA build supports() is false and the calls throw
// scanlab::Error.
bool affine_scan_chunked_cuda_supports(const AffineScanArgs& a);
AffineScanOut affine_scan_chunked_cuda(const AffineScanArgs& a, bool poison_outputs = false, int state_segments = 0);
int affine_scan_chunked_cuda_segments(const AffineScanArgs& a, int requested = 0);
// Whether affine_scan_chunked routes to the fused kernels (default on). Off, it takes the torch form
// everywhere: benchmarks compare the two paths inside whole models with it (process-wide).
void set_fused_chunked_kernels(bool on);
bool fused_chunked_kernels();
// The same for the vector (per-key) gate, GLA (cuda/chunk_vector_gate.cu, chunk_vector_gate_cuda.cpp):
// bfloat16 q, k, v, log_a [B, T, H, K] of any float dtype, K and V of 64 or 128, sm_80+; the intra-chunk
// scores in sub-chunks of 16 rows (fla's secondary chunking). Routed to under the same switch.
bool affine_scan_chunked_vector_gate_cuda_supports(const AffineScanArgs& a);
AffineScanOut affine_scan_chunked_vector_gate_cuda(const AffineScanArgs& a, bool poison_outputs = false);
AffineScanOut affine_scan_blelloch(const AffineScanArgs& a);

// Decode step: returns o [B, H, V] and leaves the new state in h (a state-dtype [B, H, K, V]
// tensor; the CUDA path updates it in place, the CPU path replaces it).
at::Tensor affine_scan_step(const AffineStepArgs& a, at::Tensor& h);
at::Tensor affine_scan_step_torch(const AffineStepArgs& a, at::Tensor& h);

// The fused CUDA decode step (cuda/affine_step.cu). supports() says whether it can take these
// arguments; the call writes o into `out` ([B, H, V] float32) and h in place. Without a CUDA build
// supports() is false and the call throws scanlab::Error.
bool affine_scan_step_cuda_supports(const AffineStepArgs& a, const at::Tensor& h);
void affine_scan_step_cuda(const AffineStepArgs& a, at::Tensor& h, at::Tensor& out);

// Mamba/S6 selective scan as a diagonal affine scan: each channel d is a head with K = N, V = 1.
// x, delta [B, T, D]; A [D, N] (negative); Bm, Cm [B, T, N]. y_t[d] = Σ_n C_t[n] h_t[d, n] with
// h_t[d, n] = exp(Δ_t[d] A[d, n]) h_{t-1}[d, n] + Δ_t[d] x_t[d] B_t[n]. (The D skip is the model's.)
AffineScanArgs selective_scan_args(const at::Tensor& x, const at::Tensor& delta, const at::Tensor& A,
                                   const at::Tensor& Bm, const at::Tensor& Cm);

}  // namespace scanlab::ops
