// The GNN on CUDA: every processor's forward pass agrees with the CPU, and a short training run
// works end to end on the device. Skips itself without a GPU.
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include "nar/gnn/net.h"
#include "nar/study/train_eval.h"
#include "support/expect_close.h"
#include "support/nar_tiny_task.h"

namespace scanlab::nar::gnn {
namespace {

TEST(NarGnnCuda, ForwardMatchesTheCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const FeatureBatch data = tiny_task({"perm", Stage::Output, Location::Node, Type::PermutationPointer}, 6, 3);
  for (const std::string proc : {"deepsets", "mpnn", "pgn", "gat", "triplet_gmpnn"}) {
    torch::manual_seed(5);
    NetOptions o;
    o.processor.kind = proc;
    o.processor.hidden = 16;
    Net net(data, o);
    net.eval();
    at::NoGradGuard no_grad;
    const NetPrediction cpu = net.forward(data);
    net.to(at::Device(at::kCUDA));
    const NetPrediction gpu = net.forward(data.to(at::Device(at::kCUDA)));
    for (const auto& [name, t] : cpu.outputs)
      scanlab::testing::expect_close(proc + " " + name, t, gpu.outputs.at(name), 1e-3);
  }
}

TEST(NarGnnCuda, ShortTrainingRunOnTheDevice) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const SpecEntry out{"one", Stage::Output, Location::Node, Type::MaskOne};
  const study::Splits s{tiny_task(out, 16, 1), tiny_task(out, 8, 2), tiny_task(out, 8, 3)};
  study::TrainOptions o;
  o.algorithm = "tiny";
  o.hidden = 16;
  o.batch_size = 4;
  o.steps = 6;
  o.eval_every = 3;
  const study::TrainResult r = study::train_and_evaluate(o, s, at::Device(at::kCUDA));
  EXPECT_EQ(r.device, "cuda");
  EXPECT_EQ(r.losses.size(), 6u);
  for (double l : r.losses) EXPECT_TRUE(std::isfinite(l));
  EXPECT_GE(r.test_score, 0.0);
}

}  // namespace
}  // namespace scanlab::nar::gnn
