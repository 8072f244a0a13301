#include "models/sequence_model.h"

#include <set>
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

at::Tensor Stream::step_group(const std::vector<Stream*>& streams, const at::Tensor& tokens) {
  std::vector<at::Tensor> rows;
  for (size_t i = 0; i < streams.size(); ++i) rows.push_back(streams[i]->step(tokens.narrow(0, static_cast<int64_t>(i), 1)));
  return at::cat(rows, 0);
}

at::Tensor step_together(const std::vector<Stream*>& streams, const at::Tensor& tokens) {
  SCANLAB_CHECK(!streams.empty(), "step_together: no streams");
  SCANLAB_CHECK(tokens.defined() && tokens.dim() == 1 && tokens.size(0) == static_cast<int64_t>(streams.size()),
                "step_together: tokens must be [", streams.size(), "] (one per stream), got ",
                tokens.defined() ? tokens.sizes() : at::IntArrayRef{});
  for (Stream* s : streams) SCANLAB_CHECK(s != nullptr, "step_together: a stream is null");
  SCANLAB_CHECK(std::set<Stream*>(streams.begin(), streams.end()).size() == streams.size(),
                "step_together: a stream is listed twice; expected distinct streams");
  for (Stream* s : streams) s->check_next_step();
  return streams.front()->step_group(streams, tokens);
}

}  // namespace scanlab::models
