#include "models/checkpoint.h"

#include <torch/utils.h>

#include "core/check.h"
#include "models/registry.h"

namespace scanlab::models {
namespace {

std::string join_names(const std::vector<std::string>& names) {
  constexpr size_t kShown = 12;
  std::string s;
  for (size_t i = 0; i < names.size() && i < kShown; ++i) s += (i ? ", '" : "'") + names[i] + "'";
  if (names.size() > kShown) s += ", ... (" + std::to_string(names.size()) + " in all)";
  return s;
}

}  // namespace

io::Safetensors checkpoint_of(SequenceModel& model) {
  io::Safetensors st;
  for (const auto& p : model.named_parameters()) st.tensors[p.key()] = p.value().detach();
  st.metadata[kCheckpointConfigKey] = model.config().dump();
  st.metadata["format"] = "pt";  // what HF tooling expects of a torch-layout safetensors file
  return st;
}

void save_checkpoint(const std::string& path, SequenceModel& model) { io::save_safetensors(path, checkpoint_of(model)); }

void load_weights(SequenceModel& model, const io::Safetensors& st, const std::string& source) {
  auto params = model.named_parameters();
  std::vector<std::string> missing, unexpected;
  for (const auto& p : params)
    if (!st.tensors.count(p.key())) missing.push_back(p.key());
  for (const auto& kv : st.tensors)
    if (!params.contains(kv.first)) unexpected.push_back(kv.first);
  SCANLAB_CHECK(missing.empty() && unexpected.empty(), source, ": weights do not match the ", model.kind(),
                " model", missing.empty() ? "" : "; missing: " + join_names(missing),
                unexpected.empty() ? "" : "; unexpected: " + join_names(unexpected));
  c10::optional<at::ScalarType> dtype;
  for (const auto& kv : st.tensors) {
    const at::Tensor& t = kv.second;
    const at::Tensor& p = params[kv.first];
    SCANLAB_CHECK(at::isFloatingType(t.scalar_type()), source, ": tensor '", kv.first, "' is ", t.scalar_type(),
                  "; expected a floating-point dtype");
    if (!dtype) dtype = t.scalar_type();
    SCANLAB_CHECK(t.scalar_type() == *dtype, source, ": tensor '", kv.first, "' is ", t.scalar_type(),
                  " but others are ", *dtype, "; expected one dtype for every weight");
    SCANLAB_CHECK(t.sizes() == p.sizes(), source, ": tensor '", kv.first, "' has shape ", t.sizes(), "; the ",
                  model.kind(), " model expects ", p.sizes());
  }
  if (dtype) model.to(*dtype);
  torch::NoGradGuard no_grad;
  for (auto& p : model.named_parameters()) p.value().copy_(st.tensors.at(p.key()));
}

std::shared_ptr<SequenceModel> load_checkpoint(const std::string& path, const at::Device& device) {
  const io::Safetensors st = io::load_safetensors(path);
  auto it = st.metadata.find(kCheckpointConfigKey);
  SCANLAB_CHECK(it != st.metadata.end(), path, ": no '", kCheckpointConfigKey,
                "' metadata; expected a checkpoint written by scanlab (init-model or train)");
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(it->second);
  } catch (const nlohmann::json::exception& e) {
    SCANLAB_CHECK(false, path, ": the '", kCheckpointConfigKey, "' metadata is not JSON (", e.what(), ")");
  }
  auto model = make_model(config);
  model->to(device);
  load_weights(*model, st, path);
  model->eval();
  return model;
}

nlohmann::json init_model_config(const InitModelOptions& o) {
  const ModelEntry& entry = find_model(o.model);
  SCANLAB_CHECK(o.preset == "default" || o.preset == "small", "--preset '", o.preset,
                "' is unknown; expected default or small");
  nlohmann::json config = o.preset == "small" ? entry.small_config() : nlohmann::json{{"model", o.model}};
  for (const auto& kv : o.overrides) {
    const size_t eq = kv.find('=');
    SCANLAB_CHECK(eq != std::string::npos && eq > 0, "--set '", kv, "': expected key=value");
    const std::string key = kv.substr(0, eq), value = kv.substr(eq + 1);
    SCANLAB_CHECK(key != "model", "--set model=...: choose the model with --model");
    // Numbers and true/false are JSON; anything else (chunk_local, causal) is taken as a string.
    config[key] = nlohmann::json::accept(value) ? nlohmann::json::parse(value) : nlohmann::json(value);
  }
  return config;
}

std::string init_model(const InitModelOptions& o) {
  SCANLAB_CHECK(o.dtype == "float32" || o.dtype == "float64", "--dtype '", o.dtype,
                "' is unknown; expected float32 or float64");
  auto model = make_model(init_model_config(o));
  model->to(o.dtype == "float64" ? at::kDouble : at::kFloat);
  save_checkpoint(o.out, *model);
  int64_t n = 0;
  for (const auto& p : model->parameters()) n += p.numel();
  return model->kind() + ": " + std::to_string(n) + " parameters (" + o.dtype + ") written to " + o.out + "\n";
}

}  // namespace scanlab::models
