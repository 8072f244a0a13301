#include "infer/sampler.h"

#include <cmath>
#include <limits>

#include "core/check.h"

namespace scanlab::infer {

void validate(const SamplingOptions& opts) {
  SCANLAB_CHECK(opts.temperature >= 0 && std::isfinite(opts.temperature), "--temperature ", opts.temperature,
                ": expected a finite value >= 0 (0 = greedy)");
  SCANLAB_CHECK(opts.top_k >= 0, "--top-k ", opts.top_k, ": expected >= 0 (0 = off)");
  SCANLAB_CHECK(opts.top_p > 0 && opts.top_p <= 1, "--top-p ", opts.top_p, ": expected a value in (0, 1]");
}

at::Tensor sample_next(const at::Tensor& logits, const SamplingOptions& opts, at::Generator& gen) {
  validate(opts);
  SCANLAB_CHECK(logits.dim() == 2, "sample_next: logits must be [B, V], got ", logits.sizes());
  if (opts.temperature == 0) return logits.argmax(-1);
  // Shifted by the row's maximum and divided in float64, so a tiny temperature sends the others to
  // -inf instead of overflowing everything to inf (1e-300 gave NaN probabilities), and a huge one
  // flattens the distribution.
  const at::Tensor shifted = logits.to(at::kDouble);
  at::Tensor scores = (shifted - std::get<0>(shifted.max(-1, /*keepdim=*/true))) / opts.temperature;  // [B, V]
  const int64_t vocab = scores.size(-1);
  if (opts.top_k > 0 && opts.top_k < vocab) {
    at::Tensor kth = std::get<0>(scores.topk(opts.top_k, -1)).select(-1, opts.top_k - 1).unsqueeze(-1);
    scores = scores.masked_fill(scores < kth, -std::numeric_limits<double>::infinity());
  }
  if (opts.top_p < 1) {
    auto sorted = scores.sort(-1, /*descending=*/true);
    at::Tensor probs = std::get<0>(sorted).softmax(-1);
    // Drop a token when the mass before it already reaches top_p (the top token always stays).
    at::Tensor drop_sorted = (probs.cumsum(-1) - probs) >= opts.top_p;
    at::Tensor drop = at::zeros_like(drop_sorted).scatter(-1, std::get<1>(sorted), drop_sorted);
    scores = scores.masked_fill(drop, -std::numeric_limits<double>::infinity());
  }
  at::Tensor probs = scores.softmax(-1).to(at::kFloat);
  // Sample on the CPU with the caller's generator so a seed reproduces across devices.
  return at::multinomial(probs.to(at::kCPU), 1, /*replacement=*/false, gen).squeeze(-1).to(logits.device());
}

}  // namespace scanlab::infer
