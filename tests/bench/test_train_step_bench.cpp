// `scanlab bench train-step` in process on the CPU: the peak-memory column is measured there, and the
// Transformer-PSM's checkpoint_agg (Agg levels recomputed in the backward) lowers it at long T.
#include <gtest/gtest.h>

#include "train_step_bench.h"

namespace scanlab::bench {
namespace {

TEST(TrainStepBench, CheckpointAggLowersTheCpuPeakOfALongTransformerPsm) {
  TrainStepBenchOptions o;
  o.models = {"transformer_psm"};
  o.lengths = {512};  // 64 chunks of 8: six tree levels of Agg calls
  o.batch = 2;
  o.width = 32;
  o.head_dim = 16;
  o.chunk = 8;
  o.vocab = 32;
  o.repeats = 1;
  const auto off = run_train_step_bench(o, at::kCPU);
  o.checkpoint_agg = true;
  const auto on = run_train_step_bench(o, at::kCPU);
  ASSERT_EQ(off.size(), 1u);
  ASSERT_EQ(on.size(), 1u);
  EXPECT_EQ(off[0].path, "auto");
  EXPECT_EQ(on[0].path, "auto, checkpoint_agg");
  EXPECT_GT(off[0].peak_bytes, 0);
  EXPECT_GT(on[0].peak_bytes, 0);
  EXPECT_LT(on[0].peak_bytes, off[0].peak_bytes);
}

}  // namespace
}  // namespace scanlab::bench
