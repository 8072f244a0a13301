// The trainer on CUDA (skips without a GPU): bf16 autocast trains to finite losses, the checkpoint
// carries the CUDA generator state, and a stopped run resumes to the same number of steps with a
// loss curve that matches the uninterrupted one closely (not bit for bit: CUDA backward kernels
// such as embedding_backward accumulate with atomics).
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <unistd.h>
#include <cmath>
#include <filesystem>

#include "io/toml.h"
#include "support/tiny_model.h"
#include "train/checkpoint.h"
#include "train/experiment.h"
#include "train/trainer.h"

namespace scanlab::train {
namespace {

TEST(TrainerCuda, Bf16AutocastTrainsAndResumes) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const at::Device cuda(at::kCUDA, 0);
  auto base = std::filesystem::temp_directory_path() / ("scanlab_train_cuda_" + std::to_string(::getpid()));
  auto make_cfg = [&](const std::string& sub) {
    auto root = io::toml_to_json(R"(
[task]
kind = "mqar"
vocab_size = 64
seq_len = 32
num_kv_pairs = 4
num_train = 2000
num_val = 64
[model]
model = "tiny_conv"
[train]
steps = 20
batch_size = 16
lr = 3e-3
eval_every = 10
eval_examples = 64
bf16 = true
)",
                                 "cuda.toml");
    io::apply_override(root, "train.out_dir=" + (base / sub).string());
    return train::parse_experiment(root);
  };
  auto model = [&] {
    torch::manual_seed(0);
    auto m = std::make_shared<testing::TinyConvModel>(64, 32, 3, 0.1);
    m->to(cuda);
    return m;
  };
  auto whole = train_model(*model(), make_cfg("whole"), {}, cuda);
  ASSERT_EQ(whole.step_losses.size(), 20u);
  for (double l : whole.step_losses) ASSERT_TRUE(std::isfinite(l));
  auto cfg = make_cfg("pieces");
  RunControl stop;
  stop.stop_after_steps = 10;
  auto first = train_model(*model(), cfg, stop, cuda);
  ASSERT_TRUE(first.interrupted);
  EXPECT_EQ(load_checkpoint(checkpoint_path(cfg)).rng.count("cuda"), 1u);
  RunControl resume;
  resume.resume = true;
  auto second = train_model(*model(), cfg, resume, cuda);
  ASSERT_EQ(first.step_losses.size() + second.step_losses.size(), 20u);
  for (size_t i = 0; i < second.step_losses.size(); ++i)
    EXPECT_NEAR(second.step_losses[i], whole.step_losses[10 + i], 1e-2 * (1 + whole.step_losses[10 + i]));
}

}  // namespace
}  // namespace scanlab::train
