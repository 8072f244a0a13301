#include "scan/mlp_agg.h"

#include <ATen/CPUGeneratorImpl.h>

#include "core/check.h"

namespace scanlab::scan {

RandomMlpAgg::RandomMlpAgg(int64_t dim, int64_t hidden, uint64_t seed, at::ScalarType dtype, at::Device device)
    : dim_(dim) {
  SCANLAB_CHECK(dim > 0 && hidden > 0, "RandomMlpAgg: dim and hidden must be positive, got ", dim, " and ", hidden);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto opts = at::TensorOptions().dtype(at::kDouble);
  // Drawn in float64 on the CPU so every dtype/device gets the same weights (up to rounding).
  w1_ = at::randn({2 * dim, hidden}, gen, opts) / std::sqrt(2.0 * dim);
  b1_ = at::randn({hidden}, gen, opts) * 0.1;
  w2_ = at::randn({hidden, dim}, gen, opts) / std::sqrt(static_cast<double>(hidden));
  b2_ = at::randn({dim}, gen, opts) * 0.1;
  for (at::Tensor* t : {&w1_, &b1_, &w2_, &b2_}) *t = t->to(device, dtype);
}

TensorState RandomMlpAgg::operator()(const TensorState& older, const TensorState& newer) const {
  SCANLAB_CHECK(older.size() == 1 && newer.size() == 1, "RandomMlpAgg expects single-tensor states");
  const at::Tensor &a = older[0], &b = newer[0];
  SCANLAB_CHECK(a.size(-1) == dim_, "RandomMlpAgg: state width ", a.size(-1), ", expected ", dim_);
  at::Tensor h = at::tanh(at::matmul(at::cat({a, b}, -1), w1_) + b1_);
  return {at::matmul(h, w2_) + b2_ + a * b};
}

void RandomMlpAgg::set_requires_grad(bool on) {
  for (at::Tensor* t : {&w1_, &b1_, &w2_, &b2_}) t->set_requires_grad(on);
}

}  // namespace scanlab::scan
