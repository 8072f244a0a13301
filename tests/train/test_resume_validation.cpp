// A resumed run trusts nothing in the checkpoint's progress record: a stage outside the curriculum
// (it indexes the stage lengths), a step beyond the budget, a count that is not a non-negative
// integer or a non-finite best loss is refused with one error naming the field, before training.
#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "core/check.h"
#include "io/toml.h"
#include "models/checkpoint.h"
#include "support/temp_dir.h"
#include "support/tiny_model.h"
#include "train/checkpoint.h"
#include "train/experiment.h"
#include "train/trainer.h"

namespace scanlab::train {
namespace {

train::ExperimentConfig two_stage_run(const std::string& out_dir) {
  auto root = io::toml_to_json(R"(
[task]
kind = "word_problem"
group = "S3"
num_train = 32
num_val = 16
[model]
model = "tiny_conv"
[train]
curriculum = [4, 6]
steps = 3
batch_size = 4
eval_every = 3
eval_examples = 16
)",
                               "test.toml");
  io::apply_override(root, "train.out_dir=\"" + out_dir + "\"");
  return train::parse_experiment(root);
}

TEST(ResumeValidation, BadProgressFieldsAreRefusedNamingTheField) {
  const auto dir = scanlab::testing::fresh_temp_dir("resume").string();
  const auto cfg = two_stage_run(dir);
  RunControl stop;
  stop.stop_after_steps = 2;
  stop.quiet = true;
  torch::manual_seed(0);
  testing::TinyConvModel model(9, 16, 3, 0.0);
  ASSERT_TRUE(train_model(model, cfg, stop, at::kCPU).interrupted);
  const std::string path = checkpoint_path(cfg);
  const models::ModelFile good = models::read_model_file(path);
  const auto progress = nlohmann::json::parse(good.train_metadata.at("progress"));

  const std::vector<std::pair<nlohmann::json, std::string>> cases = {
      {{{"stage", -1}}, "progress field 'stage' is -1; expected a non-negative integer"},
      {{{"stage", 2}}, "progress stage 2 is outside this run's curriculum of 2 stage(s)"},
      {{{"stage", 1.5}}, "progress field 'stage' is 1.5; expected a non-negative integer"},
      {{{"step", 7}, {"global_step", 7}}, "progress step 7 exceeds this run's train.steps 3"},
      {{{"step", 2}, {"global_step", 1}}, "step 2 exceeds global_step 1"},
      {{{"global_step", 100}}, "global_step 100 exceeds this run's 2 stage(s) x 3 steps"},
      {{{"global_step", "2"}}, "progress field 'global_step' is \"2\"; expected a non-negative integer"},
      {{{"best_eval_loss", "nan"}}, "'best_eval_loss' is \"nan\"; expected a finite number or null"},
      {{{"done", 1}}, "progress field 'done' is 1; expected true or false"},
  };
  for (const auto& [edit, expected] : cases) {
    SCOPED_TRACE(edit.dump());
    models::ModelFile bad = good;
    auto p = progress;
    p.update(edit);
    bad.train_metadata["progress"] = p.dump();
    models::write_model_file(path, bad);
    RunControl resume;
    resume.resume = true;
    resume.quiet = true;
    try {
      train_model(model, cfg, resume, at::kCPU);
      ADD_FAILURE() << "resumed from a bad progress record";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << "the error names the file: " << e.what();
    }
  }
  // The untouched record still resumes and finishes the run.
  models::write_model_file(path, good);
  RunControl resume;
  resume.resume = true;
  resume.quiet = true;
  EXPECT_FALSE(train_model(model, cfg, resume, at::kCPU).interrupted);
  std::filesystem::remove_all(dir);
}

// The thread count is recorded; resuming with another count says the run may now differ.
TEST(ResumeValidation, ADifferentThreadCountIsReported) {
  const auto dir = scanlab::testing::fresh_temp_dir("resume_threads").string();
  const auto cfg = two_stage_run(dir);
  const int before = at::get_num_threads();
  at::set_num_threads(1);
  RunControl stop;
  stop.stop_after_steps = 1;
  stop.quiet = true;
  torch::manual_seed(0);
  testing::TinyConvModel model(9, 16, 3, 0.0);
  train_model(model, cfg, stop, at::kCPU);
  EXPECT_EQ(load_checkpoint(checkpoint_path(cfg)).progress.threads, 1);
  at::set_num_threads(2);
  RunControl resume;
  resume.resume = true;
  resume.quiet = true;
  resume.stop_after_steps = 2;
  ::testing::internal::CaptureStderr();
  train_model(model, cfg, resume, at::kCPU);
  const std::string err = ::testing::internal::GetCapturedStderr();
  at::set_num_threads(before);
  EXPECT_NE(err.find("resuming with 2 CPU threads; the checkpoint was written with 1"), std::string::npos) << err;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace scanlab::train
