#include "models/sequence_model.h"

#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "core/check.h"

namespace scanlab::models {

std::pair<at::Tensor, std::unique_ptr<Stream>> SequenceModel::prefill(const at::Tensor& tokens) {
  SCANLAB_CHECK(tokens.dim() == 2 && tokens.size(1) >= 1, "prefill: tokens must be [B, T] with T >= 1, got ",
                tokens.sizes());
  auto stream = start_stream(tokens.size(0));
  at::Tensor logits = stream_logits(*stream, tokens);
  return {logits, std::move(stream)};
}

at::Tensor stream_logits(Stream& stream, const at::Tensor& tokens,
                         const std::function<void(const Stream&)>& after_step) {
  SCANLAB_CHECK(tokens.defined() && tokens.dim() == 2 && tokens.size(1) >= 1,
                "stream_logits: tokens must be [B, T] with T >= 1, got ",
                tokens.defined() ? tokens.sizes() : at::IntArrayRef{});
  std::vector<at::Tensor> rows;
  rows.reserve(static_cast<size_t>(tokens.size(1)));
  for (int64_t t = 0; t < tokens.size(1); ++t) {
    // A column of a [B, T] batch is strided: every caller hands the step the same dense [B] ids
    // (as eval always did); the ids, and so the logits, are the same either way.
    rows.push_back(stream.step(tokens.select(1, t).contiguous()));
    if (after_step) after_step(stream);
  }
  return at::stack(rows, 1);
}

std::vector<std::pair<at::Tensor, std::unique_ptr<Stream>>> SequenceModel::prefill_together(
    const std::vector<at::Tensor>& prompts, int64_t max_batch_tokens) {
  SCANLAB_CHECK(max_batch_tokens >= 1, "prefill_together: max_batch_tokens ", max_batch_tokens, "; expected >= 1");
  std::map<int64_t, std::vector<size_t>> by_length;
  for (size_t i = 0; i < prompts.size(); ++i) {
    SCANLAB_CHECK(prompts[i].dim() == 2 && prompts[i].size(0) == 1 && prompts[i].size(1) >= 1,
                  "prefill_together: prompt ", i, " is ", prompts[i].sizes(), "; expected [1, T] with T >= 1");
    by_length[prompts[i].size(1)].push_back(i);
  }
  std::vector<std::pair<at::Tensor, std::unique_ptr<Stream>>> out(prompts.size());
  for (const auto& [length, members] : by_length) {
    const size_t per_batch = static_cast<size_t>(std::max<int64_t>(1, max_batch_tokens / length));
    for (size_t first = 0; first < members.size(); first += per_batch) {
      const size_t n = std::min(per_batch, members.size() - first);
      std::vector<at::Tensor> rows;
      for (size_t k = 0; k < n; ++k) rows.push_back(prompts[members[first + k]]);
      auto [logits, stream] = prefill(at::cat(rows, 0));
      std::vector<std::unique_ptr<Stream>> streams;
      if (n == 1)
        streams.push_back(std::move(stream));
      else
        streams = stream->split();
      SCANLAB_ASSERT(streams.size() == n);
      for (size_t k = 0; k < n; ++k)
        out[members[first + k]] = {logits.narrow(0, static_cast<int64_t>(k), 1), std::move(streams[k])};
    }
  }
  return out;
}

int64_t restored_position(const std::map<std::string, at::Tensor>& tensors, const std::string& what, int64_t limit) {
  auto it = tensors.find("position");
  SCANLAB_CHECK(
      it != tensors.end() && it->second.numel() == 1 && it->second.scalar_type() == at::kLong, what,
      ": tensor 'position' is ",
      it == tensors.end() ? std::string("missing") : detail::concat(it->second.sizes(), " ", it->second.scalar_type()),
      "; expected one int64");
  const int64_t position = it->second.item<int64_t>();
  const int64_t most = limit >= 0 ? std::min(limit, kMaxStreamPosition) : kMaxStreamPosition;
  SCANLAB_CHECK(position >= 0 && position <= most, what, ": position ", position, " is outside [0, ", most, "]");
  return position;
}

at::Tensor Stream::step_group(const std::vector<Stream*>& streams, const at::Tensor& tokens) {
  std::vector<at::Tensor> rows;
  for (size_t i = 0; i < streams.size(); ++i)
    rows.push_back(streams[i]->step(tokens.narrow(0, static_cast<int64_t>(i), 1)));
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
  // One stream takes its own step: nothing to batch, and that path has the CUDA graphs and the
  // T-PSM's boundary overlap (step_group runs eagerly).
  if (streams.size() == 1) return streams.front()->step(tokens);
  return streams.front()->step_group(streams, tokens);
}

}  // namespace scanlab::models
