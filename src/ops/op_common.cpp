#include "ops/op_common.h"

#include <ATen/core/grad_mode.h>

#include <limits>
#include <sstream>

#include "core/check.h"

namespace scanlab::ops {
namespace {

std::string dims(const std::vector<int64_t>& v) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
  os << "]";
  return os.str();
}

}  // namespace

void check_shape(const std::string& op, const std::string& name, const at::Tensor& t,
                 const std::vector<int64_t>& expected) {
  SCANLAB_CHECK(t.defined(), op, ": ", name, " is undefined; expected a tensor of shape ", dims(expected));
  SCANLAB_CHECK(t.sizes().vec() == expected, op, ": ", name, " has shape ", dims(t.sizes().vec()), "; expected ",
                dims(expected));
}

bool fused_step_eligible(std::initializer_list<at::Tensor> inputs, std::initializer_list<at::Tensor> state) {
  if (inputs.size() == 0 || !inputs.begin()->defined()) return false;
  const at::Device device = inputs.begin()->device();
  const auto ok = [&](const at::Tensor& t) {
    return t.is_cuda() && t.scalar_type() == at::kFloat && t.device() == device;
  };
  for (const auto& t : inputs)
    if (t.defined() && !ok(t)) return false;
  for (const auto& t : state)
    if (!t.defined() || !ok(t) || !t.is_contiguous()) return false;
  return true;
}

at::Tensor float32(const at::Tensor& t) { return t.defined() ? t.to(at::kFloat) : t; }

bool step_needs_grad(std::initializer_list<at::Tensor> tensors) {
  if (!at::GradMode::is_enabled()) return false;
  for (const auto& t : tensors)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

void check_step_out(const std::string& op, const at::Tensor& out, int64_t B, int64_t H, int64_t V) {
  SCANLAB_CHECK(out.defined() && out.is_cuda() && out.scalar_type() == at::kFloat && out.is_contiguous() &&
                    out.sizes() == at::IntArrayRef({B, H, V}),
                op, ": out must be a contiguous float32 CUDA tensor [", B, ", ", H, ", ", V, "]");
}

void check_float_on(const std::string& op, const std::string& name, const at::Tensor& t, const at::Device& device) {
  SCANLAB_CHECK(at::isFloatingType(t.scalar_type()), op, ": ", name, " has dtype ", t.scalar_type(),
                "; expected a floating dtype");
  SCANLAB_CHECK(t.device() == device, op, ": ", name, " is on ", t.device(), "; expected ", device, " like q");
}

QkvDims check_qkv(const std::string& op, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  SCANLAB_CHECK(q.defined() && q.dim() == 4 && v.defined() && v.dim() == 4, op,
                ": q must be [B, T, H, K] and v [B, T, H, V]; got q ", q.defined() ? q.sizes() : at::IntArrayRef{},
                " and v ", v.defined() ? v.sizes() : at::IntArrayRef{});
  const QkvDims d{q.size(0), q.size(1), q.size(2), q.size(3), v.size(3)};
  SCANLAB_CHECK(d.T >= 1, op, ": q has T = 0 tokens; expected at least one");
  check_shape(op, "k", k, {d.B, d.T, d.H, d.K});
  check_shape(op, "v", v, {d.B, d.T, d.H, d.V});
  check_float_on(op, "q", q, q.device());
  check_float_on(op, "k", k, q.device());
  check_float_on(op, "v", v, q.device());
  return d;
}

at::Tensor causal_mask(int64_t c, bool inclusive, const at::Device& device) {
  auto ones = at::ones({c, c}, at::TensorOptions().dtype(at::kBool).device(device));
  return inclusive ? ones.tril() : ones.tril(-1);
}

at::Tensor masked_exp(const at::Tensor& x, const at::Tensor& mask) {
  return at::where(mask, x, at::full({}, -std::numeric_limits<double>::infinity(), x.options())).exp();
}

at::Tensor to_chunks(const at::Tensor& x, int64_t chunk, double fill) {
  SCANLAB_CHECK(x.dim() >= 3 && chunk >= 1, "to_chunks: expected [B, T, H, ...] and chunk >= 1");
  const int64_t T = x.size(1), NC = (T + chunk - 1) / chunk, pad = NC * chunk - T;
  at::Tensor y = x;
  if (pad > 0) {
    std::vector<int64_t> spec(2 * (x.dim() - 1), 0);  // (left, right) pairs from the last dim back to dim 1
    spec.back() = pad;
    y = at::constant_pad_nd(x, spec, fill);
  }
  std::vector<int64_t> shape{x.size(0), NC, chunk};
  for (int64_t d = 2; d < x.dim(); ++d) shape.push_back(x.size(d));
  std::vector<int64_t> order{0, 3, 1, 2};
  for (int64_t d = 4; d < x.dim() + 1; ++d) order.push_back(d);
  return y.reshape(shape).permute(order).contiguous();
}

at::Tensor from_chunks(const at::Tensor& x, int64_t T) {
  const int64_t B = x.size(0), H = x.size(1), NC = x.size(2), C = x.size(3), X = x.size(4);
  return x.permute({0, 2, 3, 1, 4}).reshape({B, NC * C, H, X}).narrow(1, 0, T);
}

at::ScalarType matmul_dtype(at::ScalarType input) {
  if (input == at::kBFloat16 || input == at::kHalf) return input;
  return input == at::kDouble ? at::kDouble : at::kFloat;
}

std::vector<at::Tensor> time_slices(const at::Tensor& x, int64_t dim, int64_t count) {
  return x.defined() ? x.unbind(dim) : std::vector<at::Tensor>(static_cast<size_t>(count));
}

std::vector<at::Tensor> chunk_slices(const at::Tensor& x, int64_t dim, int64_t chunk) { return x.split(chunk, dim); }

}  // namespace scanlab::ops
