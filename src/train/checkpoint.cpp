#include "train/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>
#include <ATen/Context.h>

#include <cmath>
#include <filesystem>

#include "core/check.h"
#include "io/safetensors.h"

namespace scanlab::train {

nlohmann::json progress_to_json(const Progress& p) {
  return {{"stage", p.stage},
          {"step", p.step},
          {"global_step", p.global_step},
          {"best_eval_loss", std::isfinite(p.best_eval_loss) ? nlohmann::json(p.best_eval_loss) : nlohmann::json()},
          {"evals_since_best", p.evals_since_best},
          {"done", p.done}};
}

Progress progress_from_json(const nlohmann::json& j) {
  Progress p;
  p.stage = j.at("stage").get<int64_t>();
  p.step = j.at("step").get<int64_t>();
  p.global_step = j.at("global_step").get<int64_t>();
  p.best_eval_loss = j.at("best_eval_loss").is_null() ? INFINITY : j.at("best_eval_loss").get<double>();
  p.evals_since_best = j.at("evals_since_best").get<int64_t>();
  p.done = j.at("done").get<bool>();
  return p;
}

std::map<std::string, at::Tensor> model_tensors(const models::SequenceModel& model) {
  std::map<std::string, at::Tensor> out;
  for (const auto& item : model.named_parameters()) out[item.key()] = item.value().detach();
  for (const auto& item : model.named_buffers()) out[item.key()] = item.value().detach();
  return out;
}

void load_model_tensors(models::SequenceModel& model, const std::map<std::string, at::Tensor>& tensors,
                        const std::string& source) {
  at::NoGradGuard no_grad;
  size_t used = 0;
  auto load = [&](const std::string& name, at::Tensor& dst) {
    auto it = tensors.find(name);
    SCANLAB_CHECK(it != tensors.end(), source, ": no tensor for model entry '", name,
                  "'; was it written for this model configuration?");
    SCANLAB_CHECK(it->second.sizes() == dst.sizes(), source, ": '", name, "' has shape ", it->second.sizes(),
                  ", the model expects ", dst.sizes());
    dst.copy_(it->second);
    ++used;
  };
  for (auto& item : model.named_parameters()) load(item.key(), item.value());
  for (auto& item : model.named_buffers()) load(item.key(), item.value());
  SCANLAB_CHECK(used == tensors.size(), source, ": holds ", tensors.size(), " model tensors, the model has ", used);
}

void save_checkpoint(const std::string& path, const Checkpoint& ckpt) {
  io::Safetensors st;
  for (const auto& [k, v] : ckpt.model) st.tensors["model/" + k] = v;
  for (const auto& [k, v] : ckpt.optimizer) st.tensors["adam/" + k] = v;
  for (const auto& [k, v] : ckpt.rng) st.tensors["rng/" + k] = v;
  st.metadata["progress"] = progress_to_json(ckpt.progress).dump();
  st.metadata["config"] = ckpt.config.dump();
  st.metadata["model_config"] = ckpt.model_config.dump();
  const auto dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) std::filesystem::create_directories(dir);
  io::save_safetensors(path, st);
}

Checkpoint load_checkpoint(const std::string& path) {
  SCANLAB_CHECK(std::filesystem::exists(path), "checkpoint '", path, "' does not exist");
  auto st = io::load_safetensors(path);
  Checkpoint c;
  for (const char* key : {"progress", "config", "model_config"})
    SCANLAB_CHECK(st.metadata.count(key), "checkpoint '", path, "' lacks metadata '", key,
                  "'; expected a file written by scanlab train");
  try {
    c.progress = progress_from_json(nlohmann::json::parse(st.metadata["progress"]));
    c.config = nlohmann::json::parse(st.metadata["config"]);
    c.model_config = nlohmann::json::parse(st.metadata["model_config"]);
  } catch (const nlohmann::json::exception& e) {
    SCANLAB_CHECK(false, "checkpoint '", path, "': bad metadata: ", e.what());
  }
  for (auto& [k, v] : st.tensors) {
    const auto slash = k.find('/');
    const std::string group = k.substr(0, slash), name = slash == std::string::npos ? "" : k.substr(slash + 1);
    if (group == "model") c.model[name] = v;
    else if (group == "adam") c.optimizer[name] = v;
    else if (group == "rng") c.rng[name] = v;
    else SCANLAB_CHECK(false, "checkpoint '", path, "': unexpected tensor '", k, "'");
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
