#include "models/layers/swiglu.h"

namespace scanlab::models {

namespace {
torch::nn::LinearOptions no_bias(int64_t in, int64_t out) { return torch::nn::LinearOptions(in, out).bias(false); }
}  // namespace

SwiGlu::SwiGlu(int64_t dim, int64_t hidden)
    : gate_proj(register_module("gate_proj", torch::nn::Linear(no_bias(dim, hidden)))),
      up_proj(register_module("up_proj", torch::nn::Linear(no_bias(dim, hidden)))),
      down_proj(register_module("down_proj", torch::nn::Linear(no_bias(hidden, dim)))) {}

at::Tensor SwiGlu::forward(const at::Tensor& x) { return down_proj(at::silu(gate_proj(x)) * up_proj(x)); }

}  // namespace scanlab::models
