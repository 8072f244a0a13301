#include "models/layers/rms_norm.h"

namespace scanlab::models {

RmsNorm::RmsNorm(int64_t dim, double eps) : eps_(eps) { weight_ = register_parameter("weight", at::ones({dim})); }

at::Tensor RmsNorm::forward(const at::Tensor& x) const {
  return x * (x.pow(2).mean(-1, true) + eps_).rsqrt() * weight_;
}

}  // namespace scanlab::models
