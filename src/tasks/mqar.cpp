#include "tasks/mqar.h"

#include <cmath>

#include "core/check.h"
#include "tasks/rng.h"

namespace scanlab::tasks {
namespace {

// k distinct draws from [lo, hi), uniform (partial Fisher-Yates over a scratch array).
void distinct_uniform(int64_t lo, int64_t hi, int64_t k, Rng& rng, std::vector<int64_t>& scratch, int64_t* out) {
  scratch.resize(static_cast<size_t>(hi - lo));
  for (int64_t i = 0; i < hi - lo; ++i) scratch[static_cast<size_t>(i)] = lo + i;
  for (int64_t i = 0; i < k; ++i) {
    const int64_t j = i + rng.below(hi - lo - i);
    std::swap(scratch[static_cast<size_t>(i)], scratch[static_cast<size_t>(j)]);
    out[i] = scratch[static_cast<size_t>(i)];
  }
}

}  // namespace

MqarTask::MqarTask(MqarOptions opts) : opts_(std::move(opts)) {
  const auto& o = opts_;
  SCANLAB_CHECK(o.num_kv_pairs >= 1, "mqar: num_kv_pairs must be >= 1, got ", o.num_kv_pairs);
  SCANLAB_CHECK(o.seq_len % 2 == 0, "mqar: seq_len ", o.seq_len, " must be even (Zoology's layout)");
  SCANLAB_CHECK(o.num_kv_pairs * 4 <= o.seq_len, "mqar: seq_len ", o.seq_len, " is too short for ", o.num_kv_pairs,
                " pairs; need seq_len >= 4 * num_kv_pairs = ", 4 * o.num_kv_pairs);
  SCANLAB_CHECK(o.vocab_size > o.seq_len, "mqar: vocab_size ", o.vocab_size, " must exceed seq_len ", o.seq_len,
                " (Zoology's requirement)");
  SCANLAB_CHECK(o.vocab_size / 2 - 1 >= o.num_kv_pairs, "mqar: vocab_size ", o.vocab_size, " has too few keys for ",
                o.num_kv_pairs, " pairs");
  SCANLAB_CHECK(o.power_a > 0 && std::isfinite(o.power_a), "mqar: power_a must be a positive number, got ", o.power_a);
  SCANLAB_CHECK(o.min_query_distance >= 0, "mqar: min_query_distance must be >= 0, got ", o.min_query_distance);
  SCANLAB_CHECK(o.num_train >= 1 && o.num_val >= 1, "mqar: num_train and num_val must be >= 1");
  SCANLAB_CHECK(o.seed != o.val_seed, "mqar: seed and val_seed are both ", o.seed,
                "; validation must use a different stream");
  const int64_t context = 2 * o.num_kv_pairs;
  const int64_t space = (o.seq_len - context) / 2;
  for (int64_t g = 0; g < space; ++g) {
    // Query at position context + 2g; the last pair's key sits at context - 2.
    if (o.min_query_distance > 0 && 2 * g + 2 < o.min_query_distance) continue;
    slots_.push_back(g);
    weights_.push_back(o.power_a * std::pow(static_cast<double>(g + 1), o.power_a - 1.0));
  }
  SCANLAB_CHECK(static_cast<int64_t>(slots_.size()) >= o.num_kv_pairs, "mqar: only ", slots_.size(),
                " query slots are at least min_query_distance=", o.min_query_distance, " from the keys, need ",
                o.num_kv_pairs, "; lengthen seq_len or lower min_query_distance");
}

std::string MqarTask::name() const {
  return "mqar(T=" + std::to_string(opts_.seq_len) + ", K=" + std::to_string(opts_.num_kv_pairs) +
         ", V=" + std::to_string(opts_.vocab_size) + ")";
}

int64_t MqarTask::num_examples(Split split) const { return split == Split::Train ? opts_.num_train : opts_.num_val; }

void MqarTask::fill(uint64_t seed, int64_t index, int64_t* in, int64_t* lb) const {
  const auto& o = opts_;
  auto rng = Rng::for_example(seed, static_cast<uint64_t>(index));
  const int64_t K = o.num_kv_pairs, T = o.seq_len, context = 2 * K, half = o.vocab_size / 2;
  std::vector<int64_t> keys(static_cast<size_t>(K)), values(static_cast<size_t>(K)), scratch;
  distinct_uniform(1, half, K, rng, scratch, keys.data());
  distinct_uniform(half, o.vocab_size, K, rng, scratch, values.data());
  for (int64_t t = 0; t < T; ++t) {
    in[t] = 0;
    lb[t] = kIgnoreLabel;
  }
  for (int64_t j = 0; j < K; ++j) {
    in[2 * j] = keys[static_cast<size_t>(j)];
    in[2 * j + 1] = values[static_cast<size_t>(j)];
  }
  // Successive weighted draws without replacement (numpy's choice(replace=False, p=...) law).
  std::vector<double> w = weights_;
  std::vector<bool> is_query(static_cast<size_t>(T), false);
  for (int64_t j = 0; j < K; ++j) {
    double total = 0;
    for (double x : w) total += x;
    double u = rng.uniform() * total;
    size_t pick = 0;
    while (pick + 1 < w.size() && (w[pick] == 0 || u >= w[pick])) {
      u -= w[pick];
      ++pick;
    }
    while (w[pick] == 0) --pick;  // rounding pushed u past the last live slot
    w[pick] = 0;
    const int64_t pos = context + 2 * slots_[pick];
    in[pos] = keys[static_cast<size_t>(j)];
    lb[pos] = values[static_cast<size_t>(j)];
    is_query[static_cast<size_t>(pos)] = true;
  }
  if (o.random_non_queries)
    for (int64_t t = context; t < T; ++t)
      if (!is_query[static_cast<size_t>(t)]) in[t] = rng.below(o.vocab_size);
}

Batch MqarTask::examples(Split split, const std::vector<int64_t>& indices) const {
  const int64_t B = static_cast<int64_t>(indices.size()), T = opts_.seq_len;
  auto inputs = at::empty({B, T}, at::kLong), labels = at::empty({B, T}, at::kLong);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t i = indices[static_cast<size_t>(b)];
    SCANLAB_CHECK(i >= 0 && i < num_examples(split), name(), ": example ", i, " is outside the ", split_name(split),
                  " split of ", num_examples(split));
    fill(split == Split::Train ? opts_.seed : opts_.val_seed, i, inputs.data_ptr<int64_t>() + b * T,
         labels.data_ptr<int64_t>() + b * T);
  }
  return {inputs, labels};
}

}  // namespace scanlab::tasks
