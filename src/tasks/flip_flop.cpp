#include "tasks/flip_flop.h"

#include <cmath>

#include "core/check.h"
#include "tasks/rng.h"

namespace scanlab::tasks {

FlipFlopTask::FlipFlopTask(FlipFlopOptions opts) : opts_(std::move(opts)) {
  SCANLAB_CHECK(opts_.num_values >= 2, "flip_flop: num_values ", opts_.num_values,
                " must be at least 2 (one value leaves nothing to track)");
  SCANLAB_CHECK(opts_.num_distractors >= 1, "flip_flop: num_distractors ", opts_.num_distractors,
                " must be at least 1");
  SCANLAB_CHECK(std::isfinite(opts_.write_prob) && opts_.write_prob > 0 && opts_.write_prob <= 1,
                "flip_flop: write_prob ", opts_.write_prob, " must be in (0, 1]");
  SCANLAB_CHECK(opts_.seq_len >= 1, "flip_flop: seq_len ", opts_.seq_len, " must be >= 1");
  SCANLAB_CHECK(opts_.num_train >= 1 && opts_.num_val >= 1, "flip_flop: num_train and num_val must be >= 1, got ",
                opts_.num_train, " and ", opts_.num_val);
  SCANLAB_CHECK(opts_.seed != opts_.val_seed, "flip_flop: seed and val_seed are both ", opts_.seed,
                "; validation must use a different stream");
}

std::string FlipFlopTask::name() const {
  return "flip_flop(V=" + std::to_string(opts_.num_values) + ", T=" + std::to_string(opts_.seq_len) + ")";
}

int64_t FlipFlopTask::num_examples(Split split) const {
  return split == Split::Train ? opts_.num_train : opts_.num_val;
}

void FlipFlopTask::generate(Split split, int64_t index, std::vector<int64_t>& tokens,
                            std::vector<int64_t>& values) const {
  auto rng = Rng::for_example(split == Split::Train ? opts_.seed : opts_.val_seed, static_cast<uint64_t>(index));
  const auto T = static_cast<size_t>(opts_.seq_len);
  tokens.resize(T);
  values.resize(T);
  // A write with probability write_prob, drawn exactly from 2^53 equally likely integers.
  const auto write_below = static_cast<int64_t>(std::ldexp(opts_.write_prob, 53));
  int64_t value = 0;
  for (size_t t = 0; t < T; ++t) {
    if (t == 0 || rng.below(int64_t{1} << 53) < write_below) {
      value = rng.below(opts_.num_values);
      tokens[t] = write_token(value);
    } else {
      tokens[t] = distractor_token(rng.below(opts_.num_distractors));
    }
    values[t] = value;
  }
}

at::Tensor FlipFlopTask::last_write_index(const at::Tensor& inputs) const {
  SCANLAB_CHECK(inputs.dim() == 2 && inputs.scalar_type() == at::kLong, name(),
                ": last_write_index needs int64 inputs [B, T], got ", inputs.sizes());
  const auto in = inputs.cpu().contiguous();
  auto out = at::empty(in.sizes(), at::kLong);
  const auto src = in.accessor<int64_t, 2>();
  auto dst = out.accessor<int64_t, 2>();
  for (int64_t b = 0; b < in.size(0); ++b) {
    int64_t last = -1;
    for (int64_t t = 0; t < in.size(1); ++t) {
      if (is_write(src[b][t])) last = t;
      dst[b][t] = last;
    }
  }
  return out;
}

Batch FlipFlopTask::examples(Split split, const std::vector<int64_t>& indices) const {
  const int64_t B = static_cast<int64_t>(indices.size()), T = opts_.seq_len;
  auto inputs = at::empty({B, T}, at::kLong), labels = at::empty({B, T}, at::kLong);
  auto* in = inputs.data_ptr<int64_t>();
  auto* lb = labels.data_ptr<int64_t>();
  std::vector<int64_t> tokens, values;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t i = indices[static_cast<size_t>(b)];
    SCANLAB_CHECK(i >= 0 && i < num_examples(split), name(), ": example ", i, " is outside the ", split_name(split),
                  " split of ", num_examples(split));
    generate(split, i, tokens, values);
    for (int64_t t = 0; t < T; ++t) {
      in[b * T + t] = tokens[static_cast<size_t>(t)];
      lb[b * T + t] = write_token(values[static_cast<size_t>(t)]);
    }
  }
  return {inputs, labels};
}

}  // namespace scanlab::tasks
