#include "train/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>

#include <cmath>
#include <filesystem>

#include "core/check.h"
#include "models/checkpoint.h"

namespace scanlab::train {

nlohmann::json progress_to_json(const Progress& p) {
  return {{"stage", p.stage},
          {"step", p.step},
          {"global_step", p.global_step},
          {"best_eval_loss", std::isfinite(p.best_eval_loss) ? nlohmann::json(p.best_eval_loss) : nlohmann::json()},
          {"evals_since_best", p.evals_since_best},
          {"done", p.done},
          {"threads", p.threads}};
}

Progress progress_from_json(const nlohmann::json& j) {
  // Every field is checked for its kind and range here: a resumed run indexes its curriculum with
  // `stage` and counts down from `step`, so a hand-edited or corrupt value must not reach them.
  auto count = [&](const char* key) {
    const auto& v = j.at(key);
    SCANLAB_CHECK(v.is_number_integer() && v.get<int64_t>() >= 0, "progress field '", key, "' is ", v.dump(),
                  "; expected a non-negative integer");
    return v.get<int64_t>();
  };
  Progress p;
  p.stage = count("stage");
  p.step = count("step");
  p.global_step = count("global_step");
  p.evals_since_best = count("evals_since_best");
  const auto& best = j.at("best_eval_loss");
  SCANLAB_CHECK(best.is_null() || (best.is_number() && std::isfinite(best.get<double>())),
                "progress field 'best_eval_loss' is ", best.dump(), "; expected a finite number or null");
  p.best_eval_loss = best.is_null() ? INFINITY : best.get<double>();
  SCANLAB_CHECK(j.at("done").is_boolean(), "progress field 'done' is ", j.at("done").dump(),
                "; expected true or false");
  p.done = j.at("done").get<bool>();
  if (j.contains("threads")) p.threads = count("threads");
  SCANLAB_CHECK(p.step <= p.global_step, "progress: step ", p.step, " exceeds global_step ", p.global_step);
  return p;
}

void check_resumable(const Progress& p, int64_t stages, int64_t steps_per_stage, const std::string& path) {
  SCANLAB_CHECK(p.stage < stages || (p.done && p.stage == stages), "checkpoint '", path, "': progress stage ", p.stage,
                " is outside this run's curriculum of ", stages, " stage(s) (expected 0..", stages - 1, ", or ", stages,
                " for a finished run)");
  SCANLAB_CHECK(p.step <= steps_per_stage, "checkpoint '", path, "': progress step ", p.step,
                " exceeds this run's train.steps ", steps_per_stage);
  SCANLAB_CHECK(p.global_step <= stages * steps_per_stage, "checkpoint '", path, "': progress global_step ",
                p.global_step, " exceeds this run's ", stages, " stage(s) x ", steps_per_stage, " steps");
}

void save_checkpoint(const std::string& path, const Checkpoint& ckpt) {
  models::ModelFile f;
  f.config = ckpt.model_config;
  f.tokenizer = ckpt.tokenizer;
  f.weights = ckpt.model;
  f.sections["adam"] = ckpt.optimizer;
  f.sections["rng"] = ckpt.rng;
  f.train_metadata["progress"] = progress_to_json(ckpt.progress).dump();
  f.train_metadata["experiment"] = ckpt.config.dump();
  const auto dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir);
  models::write_model_file(path, f);
}

Checkpoint load_checkpoint(const std::string& path) {
  SCANLAB_CHECK(std::filesystem::exists(path), "checkpoint '", path, "' does not exist");
  models::ModelFile f = models::read_model_file(path);
  SCANLAB_CHECK(f.is_training_checkpoint() && f.train_metadata.count("experiment"), "'", path,
                "' is a model file without training state (no progress or experiment); expected the checkpoint a ",
                "scanlab train run wrote");
  Checkpoint c;
  try {
    c.progress = progress_from_json(nlohmann::json::parse(f.train_metadata.at("progress")));
    c.config = nlohmann::json::parse(f.train_metadata.at("experiment"));
  } catch (const nlohmann::json::exception& e) {
    SCANLAB_FAIL("checkpoint '", path, "': bad training metadata: ", e.what());
  } catch (const Error& e) {
    SCANLAB_FAIL("checkpoint '", path, "': ", e.what());
  }
  c.model_config = f.config;
  c.tokenizer = f.tokenizer;
  c.model = std::move(f.weights);
  for (auto& [section, tensors] : f.sections) {
    SCANLAB_CHECK(section == "adam" || section == "rng", "checkpoint '", path, "': unexpected section '", section,
                  "/'; expected adam/ and rng/");
    (section == "adam" ? c.optimizer : c.rng) = std::move(tensors);
  }
  return c;
}

std::map<std::string, at::Tensor> capture_rng(at::Device device) {
  std::map<std::string, at::Tensor> rng;
  rng["cpu"] = at::detail::getDefaultCPUGenerator().get_state();
  if (device.is_cuda()) rng["cuda"] = at::globalContext().defaultGenerator(device).get_state();
  return rng;
}

void restore_rng(const std::map<std::string, at::Tensor>& rng, at::Device device) {
  auto cpu = rng.find("cpu");
  SCANLAB_CHECK(cpu != rng.end(), "checkpoint: missing the CPU generator state 'rng/cpu'");
  at::Generator cpu_gen = at::detail::getDefaultCPUGenerator();  // a handle sharing the global generator
  cpu_gen.set_state(cpu->second);
  if (device.is_cuda()) {
    auto cuda = rng.find("cuda");
    SCANLAB_CHECK(cuda != rng.end(), "checkpoint: missing 'rng/cuda'; it was written by a CPU run");
    at::Generator cuda_gen = at::globalContext().defaultGenerator(device);
    cuda_gen.set_state(cuda->second);
  }
}

}  // namespace scanlab::train
