// Experiment configuration: TOML -> validated structs, --set overrides, and errors that name the
// key and the allowed values; every file in configs/ parses.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "config/experiment.h"
#include "core/atomic_file.h"
#include "core/check.h"
#include "train/trainer.h"

namespace scanlab::config {
namespace {

std::string error_of(const std::string& toml, const std::vector<std::string>& sets = {}) {
  try {
    auto root = toml_to_json(toml, "test.toml");
    for (const auto& s : sets) apply_override(root, s);
    parse_experiment(root);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

const char* kMinimal = "[task]\nkind = \"mqar\"\n[model]\nmodel = \"gpt2\"\n";

TEST(ExperimentConfig, ReadsSectionsAndOverrides) {
  auto root = toml_to_json(std::string(kMinimal) + "[train]\nlr = 1e-3\ncurriculum = [4, 8]\n", "t.toml");
  apply_override(root, "train.lr=3e-4");
  apply_override(root, "task.seq_len=64");
  apply_override(root, "train.bf16=false");
  apply_override(root, "model.d_model=32");
  apply_override(root, "name=my_run");
  auto cfg = parse_experiment(root);
  EXPECT_DOUBLE_EQ(cfg.train.lr, 3e-4);
  EXPECT_EQ(cfg.task.mqar.seq_len, 64);
  EXPECT_EQ(cfg.task.mqar.val_seed, cfg.task.mqar.seed + 10);
  EXPECT_FALSE(cfg.train.bf16);
  EXPECT_EQ(cfg.train.curriculum, (std::vector<int64_t>{4, 8}));
  EXPECT_EQ(cfg.model["d_model"], 32);
  EXPECT_EQ(cfg.train.out_dir, "runs/my_run");
  auto wp = toml_to_json("[task]\nkind = \"word_problem\"\n[model]\nmodel = \"gpt2\"\n", "t.toml");
  apply_override(wp, "task.group=A5");  // a bare word is a string
  EXPECT_EQ(parse_experiment(wp).task.word_problem.group, "A5");
  auto ff = toml_to_json("[task]\nkind = \"flip_flop\"\nwrite_prob = 0.25\nseq_len = 12\n[model]\nmodel = \"gpt2\"\n", "t.toml");
  const auto ff_cfg = parse_experiment(ff);
  EXPECT_EQ(ff_cfg.task.flip_flop.write_prob, 0.25);
  EXPECT_EQ(task_seq_len(ff_cfg.task), 12);
  EXPECT_EQ(make_task(ff_cfg.task, 20)->name(), "flip_flop(V=4, T=20)");
}

TEST(ExperimentConfig, ErrorsNameTheKeyAndWhatIsAllowed) {
  auto has = [](const std::string& msg, const std::string& needle) {
    EXPECT_NE(msg.find(needle), std::string::npos) << "message: " << msg << "\nexpected to contain: " << needle;
  };
  has(error_of(std::string(kMinimal) + "[train]\nlearning_rate = 1\n"), "unknown key 'train.learning_rate'");
  has(error_of(std::string(kMinimal) + "[train]\nlearning_rate = 1\n"), "lr");
  has(error_of(kMinimal, {"task.kind=sorting"}), "task.kind = \"sorting\" is not allowed; expected one of: mqar, word_problem, flip_flop, lm");
  has(error_of(kMinimal, {"eval.mode=batch"}), "parallel, stream");
  has(error_of(kMinimal, {"train.steps=0"}), "train.steps = 0 must be >= 1");
  has(error_of(kMinimal, {"train.lr=fast"}), "train.lr = \"fast\" must be a finite number");
  has(error_of(kMinimal, {"task.group=S5"}), "unknown key 'task.group'");  // not an MQAR key
  has(error_of(kMinimal, {"colour=blue"}), "unknown key 'colour'");
  has(error_of("[task]\nkind = \"mqar\"\n"), "[model] needs model");
  has(error_of("[task\nkind = 1"), "not valid TOML");
  has(error_of(kMinimal, {"train.lr"}), "expected key=value");
  has(error_of(kMinimal, {"train.curriculum=[4, \"x\"]"}), "array of integers");
}

TEST(ExperimentConfig, ErrorsOfAFileNameTheFile) {
  const std::string path = ::testing::TempDir() + "bad_lr_" + std::to_string(::getpid()) + ".toml";
  write_file_atomically(path, std::string(kMinimal) + "[train]\nlr = -1\n");
  std::string e;
  try {
    load_experiment(path, {});
  } catch (const Error& err) {
    e = err.what();
  }
  EXPECT_NE(e.find(path + ": config: train.lr = -1 must be >= 0"), std::string::npos) << e;
  try {
    load_experiment(path, {"train.lr=2e-3", "train.steps=0"});
    e.clear();
  } catch (const Error& err) {
    e = err.what();
  }
  EXPECT_NE(e.find(path + " (with --set): config: train.steps"), std::string::npos) << e;
  std::remove(path.c_str());
}

TEST(ExperimentConfig, NumbersBeyondFloat32AreRefused) {
  const std::string e = error_of(kMinimal, {"train.lr=1e300"});
  EXPECT_NE(e.find("train.lr = 1e+300 must be a finite number within float32's range"), std::string::npos) << e;
  EXPECT_EQ(error_of(kMinimal, {"train.lr=3e38"}), "");
}

// Bytes toml++ mishandles (a lone Latin-1 section sign, '[' then NUL) never reach it.
TEST(ExperimentConfig, NonUtf8AndNulBytesAreRefusedBeforeParsing) {
  EXPECT_NE(error_of("name = \"\xa7\"\n").find("test.toml is not UTF-8 text (byte 8)"), std::string::npos)
      << error_of("name = \"\xa7\"\n");
  EXPECT_NE(error_of(std::string("[\0", 2)).find("holds a NUL byte at offset 1"), std::string::npos);
  EXPECT_NE(error_of("\xa7").find("not UTF-8"), std::string::npos);
  EXPECT_EQ(error_of(std::string(kMinimal) + "# caf\xc3\xa9 \xe2\x82\xac\n"), "");  // UTF-8 comments are fine
}

TEST(ExperimentConfig, EveryShippedConfigParses) {
  int count = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(std::string(SCANLAB_SOURCE_DIR) + "/configs")) {
    if (e.path().extension() != ".toml") continue;
    SCOPED_TRACE(e.path().string());
    auto cfg = load_experiment(e.path().string(), {});
    EXPECT_EQ(cfg.name, e.path().stem().string());
    // The small CPU versions build their model from the registry (the paper-sized ones are too big
    // for a unit test); lm_cpu reads the State of the Union corpus that scripts/fetch_data.sh fetches.
    const bool small = (cfg.name.size() > 4 && cfg.name.compare(cfg.name.size() - 4, 4, "_cpu") == 0) ||
                       e.path().parent_path().filename() == "cpu_experiments";
    if (small) {
      cfg.task.lm.corpus.path = std::string(SCANLAB_SOURCE_DIR) + "/" + cfg.task.lm.corpus.path;
      EXPECT_GT(train::make_experiment_model(cfg)->vocab_size(), 0);
    }
    ++count;
  }
  EXPECT_GE(count, 14);
}

TEST(ExperimentConfig, MakeTaskHonoursLengthOverrides) {
  auto cfg = parse_experiment(toml_to_json("[task]\nkind = \"word_problem\"\ngroup = \"S3\"\n[model]\nmodel = \"x\"\n", "t"));
  EXPECT_EQ(make_task(cfg.task)->seq_len(), 18);
  auto t = make_task(cfg.task, 40);
  EXPECT_EQ(t->seq_len(), 40);
  EXPECT_EQ(t->vocab_size(), 9);
}

}  // namespace
}  // namespace scanlab::config
