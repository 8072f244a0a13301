// Next-token sampling from logits [B, V]: temperature, top-k, top-p (nucleus). Temperature 0 is
// greedy (argmax), deterministic and independent of the generator.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>

namespace scanlab::infer {

struct SamplingOptions {
  double temperature = 1.0;  // 0 = greedy
  int64_t top_k = 0;         // 0 = no top-k filter
  double top_p = 1.0;        // 1 = no nucleus filter
};

// Throws scanlab::Error naming the field when a value is out of range.
void validate(const SamplingOptions& opts);

// logits [B, V] -> tokens [B] int64 on the logits' device.
at::Tensor sample_next(const at::Tensor& logits, const SamplingOptions& opts, at::Generator& gen);

}  // namespace scanlab::infer
