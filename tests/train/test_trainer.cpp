// The trainer: a tiny model learns a tiny task; a run stopped (as by a kill) and resumed gives the
// same loss curve bit for bit as an uninterrupted run, across a curriculum stage boundary, with
// dropout and gradient accumulation; a NaN loss names the step; checkpoints round-trip.
#include <gtest/gtest.h>

#include <unistd.h>
#include <csignal>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/check.h"
#include "io/toml.h"
#include "models/checkpoint.h"
#include "support/tiny_model.h"
#include "train/adamw.h"
#include "train/checkpoint.h"
#include "train/eval_report.h"
#include "train/evaluate.h"
#include "train/experiment.h"
#include "train/run_log.h"
#include "train/trainer.h"

namespace scanlab::train {
namespace {
namespace fs = std::filesystem;

std::string fresh_dir(const std::string& name) {
  auto dir = fs::temp_directory_path() / ("scanlab_train_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  return dir.string();
}

train::ExperimentConfig experiment(const std::string& toml, const std::string& out_dir) {
  auto root = io::toml_to_json(toml, "test.toml");
  io::apply_override(root, "train.out_dir=\"" + out_dir + "\"");
  return train::parse_experiment(root);
}

const char* kS3Curriculum = R"(
[task]
kind = "word_problem"
group = "S3"
num_train = 64
num_val = 32
[model]
model = "tiny_conv"
[train]
curriculum = [4, 6]
steps = 6
batch_size = 8
grad_accum = 2
lr = 1e-2
warmup_steps = 2
eval_every = 3
eval_examples = 32
log_every = 1
)";

std::shared_ptr<testing::TinyConvModel> tiny(int64_t vocab, double dropout, uint64_t seed = 0) {
  torch::manual_seed(seed);
  return std::make_shared<testing::TinyConvModel>(vocab, 16, 3, dropout);
}

TEST(Trainer, ResumeReproducesTheUninterruptedLossCurveBitForBit) {
  const auto dir_a = fresh_dir("whole"), dir_b = fresh_dir("resumed");
  auto whole = train_model(*tiny(9, 0.1), experiment(kS3Curriculum, dir_a), {}, at::kCPU);
  ASSERT_FALSE(whole.interrupted);
  ASSERT_EQ(whole.step_losses.size(), 12u);
  ASSERT_EQ(whole.stages.size(), 2u);

  auto cfg_b = experiment(kS3Curriculum, dir_b);
  std::vector<double> pieced;
  RunControl first;
  first.stop_after_steps = 4;  // mid-stage
  auto part1 = train_model(*tiny(9, 0.1), cfg_b, first, at::kCPU);
  EXPECT_TRUE(part1.interrupted);
  pieced = part1.step_losses;
  RunControl second;
  second.resume = true;
  second.stop_after_steps = 6;                                                    // exactly at the stage boundary
  auto part2 = train_model(*tiny(9, 0.1, /*seed=*/99), cfg_b, second, at::kCPU);  // weights come from the checkpoint
  EXPECT_TRUE(part2.interrupted);
  pieced.insert(pieced.end(), part2.step_losses.begin(), part2.step_losses.end());
  RunControl third;
  third.resume = true;
  auto part3 = train_model(*tiny(9, 0.1, 7), cfg_b, third, at::kCPU);
  EXPECT_FALSE(part3.interrupted);
  pieced.insert(pieced.end(), part3.step_losses.begin(), part3.step_losses.end());

  ASSERT_EQ(pieced.size(), whole.step_losses.size());
  for (size_t i = 0; i < pieced.size(); ++i) EXPECT_EQ(pieced[i], whole.step_losses[i]) << "step " << i + 1;
  // The metrics files read as one run: same train records, no duplicates.
  auto records_a = MetricsLog::read_jsonl(dir_a + "/metrics.jsonl");
  auto records_b = MetricsLog::read_jsonl(dir_b + "/metrics.jsonl");
  ASSERT_EQ(records_a.size(), records_b.size());
  for (size_t i = 0; i < records_a.size(); ++i) {
    records_a[i].erase("elapsed_s");
    records_b[i].erase("elapsed_s");
    EXPECT_EQ(records_a[i], records_b[i]) << "record " << i;
  }
  EXPECT_TRUE(fs::exists(dir_b + "/metrics.csv"));
  auto final_ckpt = load_checkpoint(checkpoint_path(cfg_b));
  EXPECT_TRUE(final_ckpt.progress.done);
  EXPECT_EQ(final_ckpt.progress.global_step, 12);
}

TEST(Trainer, TinyModelLearnsATinyLanguage) {
  const auto dir = fresh_dir("learn");
  fs::create_directories(dir);
  std::string text;
  for (int i = 0; i < 400; ++i) text += "abcd";
  write_file_atomically(dir + "/corpus.txt", text);
  write_file_atomically(dir + "/corpus2.txt", text);
  auto cfg = experiment(std::string(R"(
[task]
kind = "lm"
tokenizer = "byte"
seq_len = 16
val_fraction = 0.5
[model]
model = "tiny_conv"
[train]
steps = 60
batch_size = 16
lr = 3e-2
warmup_steps = 5
eval_every = 0
eval_examples = 32
)"),
                        dir + "/run");
  cfg.task.section["path"] = dir;
  auto model = tiny(256, 0.0);
  auto task = tasks::make_task(cfg.task);
  const double before =
      evaluate(*model, *task, tasks::Split::Validation, 32, 16, EvalMode::Parallel, at::kCPU).mean_loss();
  auto result = train_model(*model, cfg, {}, at::kCPU);
  ASSERT_EQ(result.stages.size(), 1u);
  EXPECT_GT(before, 4.0);
  EXPECT_LT(result.stages[0].eval_loss, 0.05);
  EXPECT_GT(result.stages[0].eval_acc, 0.99);
  // The streaming path predicts what the parallel path predicts.
  auto par = evaluate(*model, *task, tasks::Split::Validation, 8, 4, EvalMode::Parallel, at::kCPU);
  auto str = evaluate(*model, *task, tasks::Split::Validation, 8, 4, EvalMode::Stream, at::kCPU);
  EXPECT_EQ(par.correct, str.correct);
  EXPECT_NEAR(par.mean_loss(), str.mean_loss(), 1e-5);
}

TEST(Trainer, NonFiniteLossStopsNamingTheStep) {
  auto cfg = experiment(kS3Curriculum, fresh_dir("nan"));
  cfg.train.lr = 1e30;  // the first update overflows the weights
  cfg.train.clip_norm = 0;
  cfg.train.warmup_steps = 0;
  try {
    train_model(*tiny(9, 0.0), cfg, {}, at::kCPU);
    ADD_FAILURE() << "training went on with a non-finite loss";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("at step 2"), std::string::npos) << e.what();
  }
}

TEST(Trainer, EarlyStoppingEndsAStage) {
  auto cfg = experiment(kS3Curriculum, fresh_dir("early"));
  cfg.train.early_stop_loss = 100.0;  // any eval loss is below it: stop at the first eval
  auto result = train_model(*tiny(9, 0.0), cfg, {}, at::kCPU);
  ASSERT_EQ(result.stages.size(), 2u);
  EXPECT_TRUE(result.stages[0].early_stopped);
  EXPECT_EQ(result.stages[0].steps, 3);
  EXPECT_EQ(result.step_losses.size(), 6u);
}

TEST(AdamW, MatchesTheClosedFormFirstStep) {
  auto p = at::tensor({1.0, -2.0}, at::kFloat).reshape({1, 2}).set_requires_grad(true);
  AdamW adam({{"w", p}}, {0.9, 0.999, 1e-8, 0.1});
  p.mutable_grad() = at::tensor({0.5, -0.25}, at::kFloat).reshape({1, 2});
  adam.step(0.01);
  // First step: m̂ = g, v̂ = g², so the update is lr·sign(g) (up to eps), after decay p·(1 - lr·wd).
  EXPECT_NEAR(p[0][0].item<double>(), 1.0 * (1 - 0.001) - 0.01, 1e-6);
  EXPECT_NEAR(p[0][1].item<double>(), -2.0 * (1 - 0.001) + 0.01, 1e-6);
  EXPECT_EQ(adam.steps(), 1);
}

TEST(Schedule, WarmupThenCosineToTheFloor) {
  EXPECT_DOUBLE_EQ(scheduled_lr(0, 100, 10, 1.0, 0.1), 0.1);
  EXPECT_DOUBLE_EQ(scheduled_lr(9, 100, 10, 1.0, 0.1), 1.0);
  EXPECT_DOUBLE_EQ(scheduled_lr(10, 100, 10, 1.0, 0.1), 1.0);
  EXPECT_NEAR(scheduled_lr(55, 100, 10, 1.0, 0.1), 0.55, 1e-12);
  EXPECT_NEAR(scheduled_lr(100, 100, 10, 1.0, 0.1), 0.1, 1e-12);
}

TEST(Checkpoint, MissingOrForeignFilesAreErrors) {
  EXPECT_THROW(load_checkpoint("/nonexistent/checkpoint.safetensors"), Error);
  auto model = tiny(9, 0.0);
  auto tensors = models::model_file_of(*model).weights;
  tensors.erase("head.bias");
  EXPECT_THROW(models::load_weights(*model, tensors, "test"), Error);
  // A weights-only model file is not a training checkpoint: resume and eval say so.
  const std::string path = ::testing::TempDir() + "/weights_only.safetensors";
  models::save_checkpoint(path, *model);
  try {
    load_checkpoint(path);
    ADD_FAILURE() << "a model file without training state was taken as a training checkpoint";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("without training state"), std::string::npos) << e.what();
  }
  std::remove(path.c_str());
}

}  // namespace
}  // namespace scanlab::train

namespace scanlab::train {
namespace {

// Raises SIGTERM from inside the 3rd forward pass, as a kill arriving mid-step would.
class SignalOnThirdForward : public testing::TinyConvModel {
 public:
  using TinyConvModel::TinyConvModel;
  at::Tensor forward(const at::Tensor& tokens) override {
    if (is_training() && ++calls_ == 3) std::raise(SIGTERM);
    return TinyConvModel::forward(tokens);
  }

 private:
  int calls_ = 0;
};

TEST(Trainer, SigtermSavesACheckpointAndStopsCleanly) {
  const auto dir = fresh_dir("signal");
  auto cfg = experiment(kS3Curriculum, dir);
  cfg.train.grad_accum = 1;
  torch::manual_seed(0);
  SignalOnThirdForward model(9, 16, 3, 0.0);
  auto result = train_model(model, cfg, {}, at::kCPU);
  EXPECT_TRUE(result.interrupted);
  EXPECT_EQ(result.global_step, 3);  // the step in flight finishes, then the run saves and stops
  auto ckpt = load_checkpoint(checkpoint_path(cfg));
  EXPECT_EQ(ckpt.progress.global_step, 3);
  EXPECT_FALSE(ckpt.progress.done);
}

TEST(EvalReport, SweepsLengthsFromACheckpointAndWritesTablesAndPlots) {
  const auto dir = fresh_dir("eval");
  auto cfg = experiment(kS3Curriculum, dir);
  train_model(*tiny(9, 0.0), cfg, {}, at::kCPU);
  EvalOptions opts;
  opts.checkpoints = {checkpoint_path(cfg)};
  opts.lengths = {6, 10};
  opts.examples = 16;
  opts.out_dir = dir + "/eval";
  opts.make_model = [](const nlohmann::json& c) {
    return std::make_shared<testing::TinyConvModel>(c["vocab_size"].get<int64_t>(), c["dim"].get<int64_t>(),
                                                    c["kernel"].get<int64_t>(), c["dropout"].get<double>());
  };
  auto rows = run_eval(opts, at::kCPU);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].length, 10);
  EXPECT_EQ(rows[1].scored, 16 * 9);  // shifted: T - 1 scored positions per example
  EXPECT_EQ(rows[1].error_at.size(), 9u);
  opts.mode = "stream";
  auto streamed = run_eval(opts, at::kCPU);
  EXPECT_DOUBLE_EQ(streamed[1].accuracy, rows[1].accuracy);
  write_eval_outputs(rows, opts.out_dir);
  for (const char* f : {"eval.md", "eval.json", "error_vs_length.svg", "error_by_position.svg"})
    EXPECT_TRUE(fs::exists(opts.out_dir + "/" + f)) << f;
  EXPECT_NE(eval_markdown(rows).find("| experiment | 10 | 144 |"), std::string::npos) << eval_markdown(rows);
  EXPECT_NE(training_curves_svg({dir + "/metrics.jsonl"}, "loss").find("<polyline"), std::string::npos);
  EXPECT_THROW(training_curves_svg({dir + "/metrics.jsonl"}, "bleu"), Error);
}

}  // namespace
}  // namespace scanlab::train
