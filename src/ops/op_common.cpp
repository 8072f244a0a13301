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
  SCANLAB_CHECK(t.sizes().vec() == expected, op, ": ", name, " has shape ", dims(t.sizes().vec()),
                "; expected ", dims(expected));
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
  SCANLAB_CHECK(t.device() == device, op, ": ", name, " is on ", t.device(), "; expected ", device,
                " like q");
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

std::vector<at::Tensor> time_slices(const at::Tensor& x, int64_t dim, int64_t count) {
  return x.defined() ? x.unbind(dim) : std::vector<at::Tensor>(static_cast<size_t>(count));
}

std::vector<at::Tensor> chunk_slices(const at::Tensor& x, int64_t dim, int64_t chunk) { return x.split(chunk, dim); }

}  // namespace scanlab::ops
