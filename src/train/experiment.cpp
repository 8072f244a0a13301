#include "train/experiment.h"

#include <filesystem>

#include "core/atomic_file.h"
#include "core/check.h"
#include "core/strict_json.h"
#include "io/toml.h"

namespace scanlab::train {
namespace {

void read_train(StrictJson& s, TrainOptions& o) {
  s.read_at_least("steps", o.steps, 1);
  s.read_at_least("batch_size", o.batch_size, 1);
  s.read_at_least("grad_accum", o.grad_accum, 1);
  s.read_at_least("lr", o.lr, 0.0);
  s.read_at_least("warmup_steps", o.warmup_steps, 0);
  s.read_at_least("min_lr_ratio", o.min_lr_ratio, 0.0);
  s.read_at_least("weight_decay", o.weight_decay, 0.0);
  s.read_at_least("beta1", o.beta1, 0.0);
  s.read_at_least("beta2", o.beta2, 0.0);
  s.read_at_least("eps", o.eps, 0.0);
  s.read_at_least("clip_norm", o.clip_norm, 0.0);
  s.read_at_least("eval_every", o.eval_every, 0);
  s.read_at_least("eval_examples", o.eval_examples, 1);
  s.read_at_least("eval_batch_size", o.eval_batch_size, 1);
  s.read_at_least("early_stop_loss", o.early_stop_loss, 0.0);
  s.read("early_stop_accuracy", o.early_stop_accuracy);
  s.read_at_least("patience", o.patience, 0);
  s.read_at_least("checkpoint_every", o.checkpoint_every, 0);
  s.read_at_least("log_every", o.log_every, 1);
  s.read("curriculum", o.curriculum);
  s.read("bf16", o.bf16);
  s.read_choice("dtype", o.dtype, {"float32", "float64"});
  s.read("seed", o.seed);
  s.read("out_dir", o.out_dir);
  s.finish();
  SCANLAB_CHECK(o.beta1 < 1 && o.beta2 < 1, "config: train.beta1 and train.beta2 must be < 1");
  SCANLAB_CHECK(o.min_lr_ratio <= 1, "config: train.min_lr_ratio = ", o.min_lr_ratio, " must be <= 1");
  SCANLAB_CHECK(o.early_stop_accuracy <= 1, "config: train.early_stop_accuracy = ", o.early_stop_accuracy,
                " must be <= 1 (an accuracy; negative turns it off)");
  for (int64_t len : o.curriculum)
    SCANLAB_CHECK(len >= 2, "config: train.curriculum has length ", len, "; each must be >= 2");
}

void read_eval(StrictJson& s, EvalConfig& o) {
  s.read_choice("mode", o.mode, {"parallel", "stream"});
  s.read("lengths", o.lengths);
  s.read_at_least("examples", o.examples, 1);
  s.read_at_least("batch_size", o.batch_size, 1);
  s.finish();
  for (int64_t len : o.lengths) SCANLAB_CHECK(len >= 2, "config: eval.lengths has length ", len, "; each must be >= 2");
}

}  // namespace

ExperimentConfig parse_experiment(const nlohmann::json& root) {
  ExperimentConfig cfg;
  cfg.source = root;
  StrictJson top(root, "config");
  top.read("name", cfg.name);
  for (const char* section : {"task", "model", "train", "eval"}) top.allow(section);
  top.finish();
  cfg.task = tasks::read_task_config(root.contains("task") ? root.at("task") : nlohmann::json());
  StrictJson train(root.value("train", nlohmann::json::object()), "config", "train");
  read_train(train, cfg.train);
  StrictJson eval(root.value("eval", nlohmann::json::object()), "config", "eval");
  read_eval(eval, cfg.eval);
  cfg.model = root.value("model", nlohmann::json::object());
  SCANLAB_CHECK(cfg.model.is_object() && cfg.model.contains("model") && cfg.model["model"].is_string(),
                "config: [model] needs model = \"<name>\" (a name from the model registry)");
  if (cfg.train.out_dir.empty()) cfg.train.out_dir = "runs/" + cfg.name;
  return cfg;
}

ExperimentConfig load_experiment(const std::string& path, const std::vector<std::string>& overrides) {
  auto root = io::toml_to_json(read_file(path), path);
  if (!root.contains("name")) root["name"] = std::filesystem::path(path).stem().string();
  for (const auto& o : overrides) io::apply_override(root, o);
  try {
    return parse_experiment(root);
  } catch (const Error& e) {  // the checks know the key, not the file: every error names its source
    SCANLAB_FAIL(path, (overrides.empty() ? "" : " (with --set)"), ": ", e.what());
  }
}

}  // namespace scanlab::train
