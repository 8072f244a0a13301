#include "train/data_parallel.h"

#include <algorithm>
#include <vector>

#include "core/check.h"

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

void sum_over_ranks(dist::Group& group, tasks::EvalTotals& totals, const std::string& what) {
  if (group.size() == 1) return;
  // Ranks may have seen different lengths: the longest decides the per-position vectors' size.
  const auto longest = group.reduce_values({static_cast<double>(totals.errors_at.size())}, dist::Group::Reduce::Max, what)[0];
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
