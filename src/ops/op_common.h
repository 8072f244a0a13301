// Helpers every op family shares: argument checks with messages that name the tensor and the shape
// expected, the state dtype rule, causal masks and a masked exponential that never evaluates exp on
// the masked entries (those exponents may be large and positive; exp would overflow and poison the
// gradient with inf * 0).
#pragma once
#include <ATen/ATen.h>

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

// [c, c] bool on `device`: j <= i (inclusive) or j < i (strict).
at::Tensor causal_mask(int64_t c, bool inclusive, const at::Device& device);
// exp(x) where mask is true and 0 elsewhere; masked entries never reach exp.
at::Tensor masked_exp(const at::Tensor& x, const at::Tensor& mask);

}  // namespace scanlab::ops
