#include "train/data_parallel.h"

#include <algorithm>
#include <vector>

#include "core/check.h"
#include "models/affine/affine_family.h"
#include "models/transformer_psm.h"
#include "scan/block_scan.h"

namespace scanlab::train {

void check_batch_divides(int64_t batch_size, int ranks) {
  SCANLAB_CHECK(batch_size % ranks == 0, "train.batch_size = ", batch_size, " is not divisible by the ", ranks,
                " processes (--nproc / WORLD_SIZE): the global batch is split evenly between them; pick a multiple of ",
                ranks);
}

std::pair<int64_t, int64_t> shard_of(int64_t n, int rank, int ranks) {
  const int64_t lo = n * rank / ranks, hi = n * (rank + 1) / ranks;
  return {lo, hi - lo};
}

MicroBatchLoss data_parallel_loss(dist::Group& group, const at::Tensor& logits, const at::Tensor& labels,
                                  tasks::LossAlignment alignment) {
  auto [sum, count] = tasks::task_loss_sum(logits, labels, alignment);
  const auto global = group.reduce_values({sum.item<double>(), static_cast<double>(count)}, dist::Group::Reduce::Sum,
                                          "loss of a micro-batch");
  // N / global count: averaging the ranks' gradients then gives the gradient of sum / global count.
  return {sum * (static_cast<double>(group.size()) / global[1]), global[0] / global[1]};
}

void check_seq_parallel(const ExperimentConfig& cfg, int ranks) {
  SCANLAB_CHECK(ranks >= 2, "--seq-parallel splits each sequence over the ranks; it needs at least 2 (--nproc or ",
                "WORLD_SIZE), got ", ranks);
  const std::string kind = cfg.model.value("model", std::string());
  const auto affine = models::affine_model_names();
  const bool is_affine = std::find(affine.begin(), affine.end(), kind) != affine.end();
  std::string known = "transformer_psm";
  for (const auto& name : affine) known += ", " + name;
  SCANLAB_CHECK(kind == "transformer_psm" || is_affine, "--seq-parallel: model '", kind, "' has no chunk scan to ",
                "split over the ranks; sequence parallel training covers ", known);
  const std::string chunk_key = is_affine ? "chunk_len" : "chunk_size";
  const int64_t chunk = cfg.model.value(
      chunk_key, is_affine ? models::AffineLmOptions{}.chunk_len : models::TransformerPsmOptions{}.chunk_size);
  SCANLAB_CHECK(chunk >= 1, "--seq-parallel: model.", chunk_key, " must be >= 1, got ", chunk);
  const std::vector<int64_t> lens = cfg.train.curriculum.empty() ? std::vector<int64_t>{0} : cfg.train.curriculum;
  for (int64_t len : lens) {
    // The tokens a batch holds at this stage, from one example (seq_len counts differently per task).
    const int64_t t = tasks::make_task(cfg.task, len)->examples(tasks::Split::Train, {0}).inputs.size(1);
    const int64_t chunks = (t + chunk - 1) / chunk;
    if (is_affine) {  // chunks split evenly (dist::SeqParallel::affine_token_range)
      SCANLAB_CHECK(chunks >= ranks, "--seq-parallel over ", ranks, " ranks: sequences of ", t, " tokens are ", chunks,
                    " chunks of ", chunk, " (model.chunk_len); every rank needs at least one chunk; use ",
                    "fewer ranks, longer sequences or a shorter chunk_len");
      continue;
    }
    const scan::BlockLayout l = scan::block_layout(chunks, ranks);
    SCANLAB_CHECK(l.count(ranks - 1) > 0, "--seq-parallel over ", ranks, " ranks: sequences of ", t, " tokens are ",
                  l.states, " chunks of ", chunk, "; in blocks of ", l.block_len,
                  " chunks (a power of two) per rank they leave rank ", ranks - 1,
                  " without tokens; use fewer ranks or longer sequences (more than ", (ranks - 1) * l.block_len,
                  " chunks)");
  }
}

at::Tensor block_labels(const at::Tensor& labels, int64_t first, int64_t count, tasks::LossAlignment alignment) {
  if (alignment == tasks::LossAlignment::Unshifted) return labels.slice(1, first, first + count);
  at::Tensor out = at::full({labels.size(0), count}, tasks::kIgnoreLabel, labels.options());
  const int64_t end = std::min(first + count + 1, labels.size(1));
  if (end > first + 1) out.slice(1, 0, end - first - 1).copy_(labels.slice(1, first + 1, end));
  return out;
}

void sum_over_ranks(dist::Group& group, tasks::EvalTotals& totals, const std::string& what) {
  if (group.size() == 1) return;
  // Ranks may have seen different lengths: the longest decides the per-position vectors' size.
  const auto longest =
      group.reduce_values({static_cast<double>(totals.errors_at.size())}, dist::Group::Reduce::Max, what)[0];
  totals.errors_at.resize(static_cast<size_t>(longest), 0);
  totals.count_at.resize(static_cast<size_t>(longest), 0);
  std::vector<double> v{totals.loss_sum, static_cast<double>(totals.correct), static_cast<double>(totals.total)};
  for (size_t t = 0; t < totals.errors_at.size(); ++t) {
    v.push_back(static_cast<double>(totals.errors_at[t]));
    v.push_back(static_cast<double>(totals.count_at[t]));
  }
  v = group.reduce_values(v, dist::Group::Reduce::Sum, what);
  totals.loss_sum = v[0];
  totals.correct = static_cast<int64_t>(v[1]);
  totals.total = static_cast<int64_t>(v[2]);
  for (size_t t = 0; t < totals.errors_at.size(); ++t) {
    totals.errors_at[t] = static_cast<int64_t>(v[3 + 2 * t]);
    totals.count_at[t] = static_cast<int64_t>(v[4 + 2 * t]);
  }
}

}  // namespace scanlab::train
