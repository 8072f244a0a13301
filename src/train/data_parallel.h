// What the trainer does differently on data-parallel ranks (dist/): each micro-batch of the global
// batch is split evenly, rank r taking the contiguous slice [r·b/N, (r+1)·b/N), so the data order is
// that of one process whatever N is; the loss is the global micro-batch's mean over its supervised
// positions; evaluation is sharded the same way and its sums added up.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <utility>

#include "dist/group.h"
#include "tasks/task.h"
#include "train/experiment.h"

namespace scanlab::train {

// Refuses a global batch that the ranks cannot share evenly: one line naming both numbers.
void check_batch_divides(int64_t batch_size, int ranks);

// [first, first + count) of `n` items that rank `rank` of `ranks` takes (contiguous, sizes differ by at most 1).
std::pair<int64_t, int64_t> shard_of(int64_t n, int rank, int ranks);

struct MicroBatchLoss {
  at::Tensor loss;  // what this rank back-propagates; the gradients averaged over the ranks are the global mean's
  double value;     // the global micro-batch's mean loss, the same on every rank
};
// The global micro-batch's loss from this rank's slice of it: summed cross-entropy and supervised
// positions added up over the ranks (one small all-reduce), the local sum scaled by N / global count.
MicroBatchLoss data_parallel_loss(dist::Group& group, const at::Tensor& logits, const at::Tensor& labels,
                                  tasks::LossAlignment alignment);

// Sequence parallel (dist/seq_parallel.h, `--seq-parallel`): every rank takes the whole micro-batch
// and one block of each sequence's chunks. Refuses, one line each, what cannot run that way: fewer
// than two ranks, a model without a chunk scan (transformer_psm and the affine family have one), and
// a stage whose sequences leave a rank without tokens (transformer_psm: each rank holds a power-of-two
// number of chunks, so N chunks over P ranks need N > (P-1)·B, B the smallest power of two with
// P·B >= N; the affine family: its chunks split evenly, N >= P).
void check_seq_parallel(const ExperimentConfig& cfg, int ranks);
// A rank's block [first, first + count) of `labels` [B, T], aligned with the block's logits
// (Unshifted): under Shifted alignment position t's label is labels[t + 1], the last one none.
at::Tensor block_labels(const at::Tensor& labels, int64_t first, int64_t count, tasks::LossAlignment alignment);

// Adds up every rank's totals (loss, counts, errors per position); all ranks get the sum.
void sum_over_ranks(dist::Group& group, tasks::EvalTotals& totals, const std::string& what);

}  // namespace scanlab::train
