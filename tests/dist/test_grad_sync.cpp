// c10d in one process: two ranks as threads on loopback Gloo. Bucketed gradient all-reduce gives
// the mean of the ranks' gradients (several buckets started during the backward pass, a parameter
// without a gradient, gradient accumulation over two backward passes), and a rank that leaves makes the other's
// collective fail naming it, within the timeout.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "core/check.h"
#include "dist/grad_sync.h"
#include "dist/group.h"
#include "support/loopback_ranks.h"

namespace scanlab::dist {
namespace {

struct Params {
  at::Tensor w, b, unused;
};

Params make_params() {
  auto o = at::TensorOptions().dtype(at::kDouble);
  return {at::linspace(-1, 1, 12, o).reshape({3, 4}).requires_grad_(), at::linspace(0, 1, 4, o).requires_grad_(),
          at::ones({5}, o).requires_grad_()};
}

// A rank's loss on its own inputs (micro-batch m); `unused` takes no part.
at::Tensor loss_of(const Params& p, int rank, int micro) {
  auto x = at::arange(6, at::TensorOptions().dtype(at::kDouble)).reshape({2, 3}).add(rank * 10 + micro * 3).div(7);
  return at::matmul(x, p.w).add(p.b).tanh().pow(2).sum();
}

TEST(GradSync, BucketsAverageTheRanksGradients) {
  if (!have_gloo()) GTEST_SKIP() << "this build has no c10d Gloo";
  const int port = free_port();
  std::vector<Params> params(2);
  auto rank_main = [&](int rank) {
    Group group(world(rank, port), at::kCPU, gloo(20));
    params[rank] = make_params();
    auto& p = params[rank];
    // One parameter a bucket, in reverse order: b, w, then `unused`, which only finish() starts.
    GradSync sync(group, {p.unused, p.w, p.b}, /*bucket_bytes=*/32);
    EXPECT_EQ(sync.num_buckets(), 3);
    loss_of(p, rank, 0).backward();  // micro-batch 1 accumulates locally
    sync.arm();
    loss_of(p, rank, 1).backward();
    EXPECT_EQ(sync.started_in_backward(), 2);  // overlapped with the backward pass
    sync.finish();
  };
  std::thread r1(rank_main, 1);
  rank_main(0);
  r1.join();

  // The reference: each rank's two micro-batches by themselves, averaged.
  std::vector<Params> ref(2);
  for (int r = 0; r < 2; ++r) {
    ref[r] = make_params();
    loss_of(ref[r], r, 0).backward();
    loss_of(ref[r], r, 1).backward();
  }
  const auto w = (ref[0].w.grad() + ref[1].w.grad()) / 2, b = (ref[0].b.grad() + ref[1].b.grad()) / 2;
  for (int r = 0; r < 2; ++r) {
    EXPECT_LT((params[r].w.grad() - w).abs().max().item<double>(), 1e-15) << "rank " << r;
    EXPECT_LT((params[r].b.grad() - b).abs().max().item<double>(), 1e-15) << "rank " << r;
    EXPECT_FALSE(params[r].unused.grad().defined()) << "rank " << r;
  }
  EXPECT_GT((ref[0].w.grad() - ref[1].w.grad()).abs().max().item<double>(), 1e-3);  // the ranks did differ
}

TEST(Group, ARankThatLeavesIsNamedByTheOther) {
  if (!have_gloo()) GTEST_SKIP() << "this build has no c10d Gloo";
  const int port = free_port();
  std::string error;
  double took = 0;
  auto rank_main = [&](int rank) {
    Group group(world(rank, port), at::kCPU, gloo(2));
    group.reduce_values({1.0}, Group::Reduce::Sum, "the first sum");
    if (rank == 1) return;  // leaves: its connections close, its heartbeat stops
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const auto t0 = std::chrono::steady_clock::now();
    try {
      group.reduce_values({1.0}, Group::Reduce::Sum, "the second sum");
    } catch (const Error& e) {
      error = e.what();
    }
    took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  std::thread r1(rank_main, 1);
  rank_main(0);
  r1.join();
  EXPECT_NE(error.find("rank 0: the second sum failed: rank 1 stopped responding"), std::string::npos) << error;
  EXPECT_LT(took, 2.0 + 5.0) << error;  // the timeout, the heartbeat check and the linger for the others
}

}  // namespace
}  // namespace scanlab::dist
