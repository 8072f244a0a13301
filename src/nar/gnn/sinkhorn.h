// Log-space Sinkhorn normalisation (CLRS decoders.log_sinkhorn) for permutation-pointer decoders:
// optional Gumbel noise (training only), division by the temperature, the diagonal pushed to -1e6
// (a node never precedes itself), then `steps` rounds of row and column log-softmax. exp() of the
// result is (approximately, exactly in the limit) doubly stochastic; columns are normalised last.
// steps = 0 leaves the scaled, diagonal-masked logits unnormalised (an evaluation-time diagnostic:
// the row argmax of the raw scores).
#pragma once
#include <ATen/ATen.h>

namespace scanlab::nar::gnn {

struct SinkhornOptions {
  int64_t steps = 10;
  double temperature = 0.1;
  bool zero_diagonal = true;
  bool gumbel_noise = false;  // training only
};

// logits [..., N, N] -> log of a (near) doubly stochastic matrix, same shape.
at::Tensor log_sinkhorn(const at::Tensor& logits, const SinkhornOptions& opts);

}  // namespace scanlab::nar::gnn
