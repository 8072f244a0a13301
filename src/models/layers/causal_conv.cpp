#include "models/layers/causal_conv.h"

#include <cmath>

#include "models/sequence_split.h"

namespace scanlab::models {

CausalConv::CausalConv(int64_t channels, int64_t width) : channels_(channels), width_(width) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(width));
  weight_ = register_parameter("weight", at::empty({channels, width}).uniform_(-bound, bound));
  bias_ = register_parameter("bias", at::zeros({channels}));
}

at::Tensor CausalConv::initial_state(int64_t batch, const at::Tensor& param) const {
  return at::zeros({batch, width_ - 1, channels_}, param.options());
}

at::Tensor CausalConv::forward(const at::Tensor& x, at::Tensor& state) const {
  const int64_t T = x.size(1);
  // [B, W-1+T, C]; under sequence parallelism the W-1 inputs before the block come from the ranks before
  SequenceSplit* split = active_sequence_split();
  auto padded = split ? split->with_halo(x, width_ - 1) : at::cat({state.to(x.scalar_type()), x}, 1);
  at::Tensor y = bias_.expand_as(x);
  for (int64_t w = 0; w < width_; ++w) y = y + padded.narrow(1, w, T) * weight_.select(1, w);
  state = padded.narrow(1, T, width_ - 1);
  return y;
}

}  // namespace scanlab::models
