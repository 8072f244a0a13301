// Options and initialisers that Mamba (S6) and Mamba2 share.
#pragma once
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cmath>

#include "models/affine/affine_lm.h"

namespace scanlab::models {

struct SsmOptions {
  int64_t d_state = 16;  // N
  int64_t d_conv = 4;    // width of the causal depthwise conv
  int64_t expand = 2;    // inner width E = expand * d_model

  void read(StrictJson& r) {
    r.read_at_least("d_state", d_state, 1);
    r.read_at_least("d_conv", d_conv, 1);
    r.read_at_least("expand", expand, 1);
  }
  void write(nlohmann::json& j) const {
    j["d_state"] = d_state;
    j["d_conv"] = d_conv;
    j["expand"] = expand;
  }
};

// Biases b with softplus(b) log-uniform in [1e-3, 1e-1] (Mamba's Δ initialisation).
inline at::Tensor inverse_softplus_dt_bias(int64_t n) {
  auto dt = at::exp(at::rand({n}) * (std::log(0.1) - std::log(1e-3)) + std::log(1e-3));
  return dt + at::log(-at::expm1(-dt));
}

}  // namespace scanlab::models
