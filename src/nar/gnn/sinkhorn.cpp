#include "nar/gnn/sinkhorn.h"

#include "core/check.h"

namespace scanlab::nar::gnn {

at::Tensor log_sinkhorn(const at::Tensor& logits, const SinkhornOptions& opts) {
  SCANLAB_CHECK(logits.dim() >= 2 && logits.size(-1) == logits.size(-2),
                "log_sinkhorn needs square matrices [..., N, N], got ", logits.sizes());
  SCANLAB_CHECK(opts.temperature > 0, "Sinkhorn temperature must be positive, got ", opts.temperature);
  SCANLAB_CHECK(opts.steps >= 0, "Sinkhorn steps must be 0 or more, got ", opts.steps);
  at::Tensor x = logits;
  if (opts.gumbel_noise) {
    const at::Tensor u = at::rand(x.sizes(), x.options());
    x = x - at::log(-at::log(u + 1e-12) + 1e-12);
  }
  x = x / opts.temperature;
  if (opts.zero_diagonal) x = x - 1e6 * at::eye(x.size(-1), x.options());
  for (int64_t s = 0; s < opts.steps; ++s) {
    x = at::log_softmax(x, -1);
    x = at::log_softmax(x, -2);
  }
  return x;
}

}  // namespace scanlab::nar::gnn
