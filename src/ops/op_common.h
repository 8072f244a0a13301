// Helpers every op family shares: argument checks with messages that name the tensor and the shape
// expected, the state dtype rule, causal masks and a masked exponential that never evaluates exp on
// the masked entries (those exponents may be large and positive; exp would overflow and poison the
// gradient with inf * 0).
#pragma once
#include <ATen/ATen.h>

#include <initializer_list>
#include <string>
#include <vector>

namespace scanlab::ops {

// Throws scanlab::Error "<op>: <name> has shape [..]; expected [..]" unless t is defined with `expected`.
void check_shape(const std::string& op, const std::string& name, const at::Tensor& t,
                 const std::vector<int64_t>& expected);
struct QkvDims {
  int64_t B, T, H, K, V;
};
// Checks q, k [B, T, H, K] and v [B, T, H, V] (T >= 1, floating, on q's device) and returns the sizes.
QkvDims check_qkv(const std::string& op, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

// Throws unless t is a floating tensor on `device`.
void check_float_on(const std::string& op, const std::string& name, const at::Tensor& t, const at::Device& device);

// For the fused CUDA decode steps: every defined tensor of `inputs` and every tensor of `state`
// (which must also be contiguous, as the kernels update it in place) is a float32 CUDA tensor on
// the device of the first input.
bool fused_step_eligible(std::initializer_list<at::Tensor> inputs, std::initializer_list<at::Tensor> state);
// t as float32 (undefined stays undefined): decode-step inputs on their way to a kernel.
at::Tensor float32(const at::Tensor& t);
// Whether autograd would record an op on these tensors (the kernels have no backward).
bool step_needs_grad(std::initializer_list<at::Tensor> tensors);
// The [B, H, V] float32 output a fused step writes, checked (defined, contiguous, float32, CUDA, shape).
void check_step_out(const std::string& op, const at::Tensor& out, int64_t B, int64_t H, int64_t V);

// The token loops and chunk loops slice their inputs with these, never with select/narrow per step:
// the backward of select(dim, t) or narrow(dim, start, c) writes each piece's gradient into a zero
// tensor as large as the whole input (T or T/c full-size allocations per input), while unbind's and
// split's backward stack or concatenate the pieces once.
// x's slices along `dim` (x.unbind(dim)); for an undefined x, `count` undefined tensors.
std::vector<at::Tensor> time_slices(const at::Tensor& x, int64_t dim, int64_t count);
// x in pieces of `chunk` along `dim`, the last possibly shorter (x.split(chunk, dim)).
std::vector<at::Tensor> chunk_slices(const at::Tensor& x, int64_t dim, int64_t chunk);

// The chunked forms work on all chunks at once: x [B, T, H, ...] becomes [B, H, NC, C, ...]
// (contiguous), with T padded at the end to NC * C by `fill`. Padded tokens are chosen by each op
// to leave the state unchanged (k = v = 0, log decay 0), and their outputs are dropped by
// from_chunks, the inverse: [B, H, NC, C, X] -> [B, T, H, X] keeping the first T tokens.
at::Tensor to_chunks(const at::Tensor& x, int64_t chunk, double fill = 0.0);
at::Tensor from_chunks(const at::Tensor& x, int64_t T);

// The dtype of the chunked forms' large matrix products: bfloat16 / half inputs keep their dtype (the
// products accumulate in float32), everything else runs in the state dtype.
at::ScalarType matmul_dtype(at::ScalarType input);

// [c, c] bool on `device`: j <= i (inclusive) or j < i (strict).
at::Tensor causal_mask(int64_t c, bool inclusive, const at::Device& device);
// exp(x) where mask is true and 0 elsewhere; masked entries never reach exp.
at::Tensor masked_exp(const at::Tensor& x, const at::Tensor& mask);

}  // namespace scanlab::ops
