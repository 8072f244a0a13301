#include "models/sequence_model.h"

#include <vector>

#include "core/check.h"

namespace scanlab::models {

std::pair<at::Tensor, std::unique_ptr<Stream>> SequenceModel::prefill(const at::Tensor& tokens) {
  SCANLAB_CHECK(tokens.dim() == 2 && tokens.size(1) >= 1, "prefill: tokens must be [B, T] with T >= 1, got ",
                tokens.sizes());
  auto stream = start_stream(tokens.size(0));
  std::vector<at::Tensor> logits;
  for (int64_t t = 0; t < tokens.size(1); ++t) logits.push_back(stream->step(tokens.select(1, t)));
  return {at::stack(logits, 1), std::move(stream)};
}

}  // namespace scanlab::models
