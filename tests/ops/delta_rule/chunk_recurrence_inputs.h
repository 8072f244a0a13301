// Inputs of the delta rule's chunk recurrence (ops/delta_rule/chunk_recurrence.h) as the chunked form
// builds them from random tokens (unit-norm keys, β in (0, 1), log-sigmoid gates around gate_bias), so
// the recurrence is the contraction it is in use and stays bounded over hundreds of chunks. Float64.
#pragma once
#include <ATen/ATen.h>

#include <vector>

#include "ops/delta_rule/chunk_recurrence.h"
#include "support/op_test_util.h"

namespace scanlab::ops {

struct RecurrenceCase {
  int64_t BH, NC, C, K, V;
  double gate_bias;  // per-token log a = log sigmoid(N(bias, 1)): -3 decays strongly, 30 is no gate
};

// {sol [BH, NC, C, V + K] (X | Y), k_state [BH, NC, C, K], gamma [BH, NC], h0 [BH, K, V]}: the
// differentiable leaves; recurrence_inputs cuts x and y out of sol as the chunked form does.
inline std::vector<at::Tensor> recurrence_leaves(const RecurrenceCase& c, uint64_t seed) {
  scanlab::testing::Rng rng(seed);
  at::Tensor k = rng.randn({c.BH, c.NC, c.C, c.K});
  k = k / k.norm(2, -1, true);
  const at::Tensor beta = at::sigmoid(rng.randn({c.BH, c.NC, c.C, 1}));
  const at::Tensor g = rng.log_gate({c.BH, c.NC, c.C}, c.gate_bias).cumsum(-1);
  // Strictly lower (I + A) of the chunk's solve; min(., 0) keeps the masked exponents finite.
  const at::Tensor strict = at::ones({c.C, c.C}, at::kBool).tril(-1);
  const at::Tensor decay = (g.unsqueeze(-1) - g.unsqueeze(-2)).clamp_max(0).exp();
  const at::Tensor lhs =
      at::eye(c.C, k.options()) +
      at::where(strict, beta * at::matmul(k, k.transpose(-1, -2)) * decay, at::zeros({}, k.options()));
  const at::Tensor sol = at::linalg_solve_triangular(
      lhs, at::cat({beta * rng.randn({c.BH, c.NC, c.C, c.V}), beta * g.exp().unsqueeze(-1) * k}, -1),
      /*upper=*/false, /*left=*/true, /*unitriangular=*/true);
  const at::Tensor g_last = g.select(-1, c.C - 1);
  return {sol, k * (g_last.unsqueeze(-1) - g).exp().unsqueeze(-1), g_last.exp(), rng.randn({c.BH, c.K, c.V})};
}

inline DeltaChunkInputs recurrence_inputs(const std::vector<at::Tensor>& leaves, int64_t V) {
  const at::Tensor& sol = leaves[0];
  return {sol.narrow(-1, 0, V), sol.narrow(-1, V, sol.size(-1) - V), leaves[1], leaves[2], leaves[3]};
}

// A loss that weights every output, each by its own fixed random tensor.
struct RecurrenceLoss {
  at::Tensor w_entering, w_u, w_final;
  RecurrenceLoss(const RecurrenceCase& c, uint64_t seed) {
    scanlab::testing::Rng rng(seed);
    w_entering = rng.randn({c.BH, c.NC, c.K, c.V});
    w_u = rng.randn({c.BH, c.NC, c.C, c.V});
    w_final = rng.randn({c.BH, c.K, c.V});
  }
  at::Tensor operator()(const DeltaChunkStates& s) const {
    auto d = [](const at::Tensor& t) { return t.to(at::kCPU, at::kDouble); };
    return (d(s.entering) * w_entering).sum() + (d(s.u) * w_u).sum() + (d(s.final) * w_final).sum();
  }
};

}  // namespace scanlab::ops
