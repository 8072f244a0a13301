// Model checkpoints as safetensors files: every parameter under its module path (HF GPT-2 names:
// wte, wpe, h.<i>.ln_1, h.<i>.attn.c_attn [in, out], ..., ln_f; the T-PSM's stacks under "agg."
// and "inf."), plus the model's configuration JSON in the header metadata ("scanlab.config"), so
// load_checkpoint rebuilds the model through the registry. Generic over SequenceModel.
// Loading is strict: missing and unexpected names are listed, shapes and dtypes must match.
#pragma once
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "models/sequence_model.h"

namespace scanlab::models {

constexpr const char* kCheckpointConfigKey = "scanlab.config";

io::Safetensors checkpoint_of(SequenceModel& model);  // weights (CPU) + config metadata
void save_checkpoint(const std::string& path, SequenceModel& model);

// Copies weights into `model` (which keeps its device); the file's floating dtype must be one
// dtype, and the model is converted to it. `source` names the origin in errors.
void load_weights(SequenceModel& model, const io::Safetensors& st, const std::string& source);
// Rebuilds the model from the file's config and loads its weights, on `device`.
std::shared_ptr<SequenceModel> load_checkpoint(const std::string& path, const at::Device& device = at::kCPU);

// `scanlab init-model`: a random-init checkpoint of a registered model.
struct InitModelOptions {
  std::string model;                   // registry name
  std::string preset = "default";      // "default" (the options' defaults) or "small" (registry small_config)
  std::vector<std::string> overrides;  // "key=value"; value is JSON (numbers, true/false) or a bare string
  std::string dtype = "float32";       // float32 | float64
  std::string out;                     // checkpoint path
};
nlohmann::json init_model_config(const InitModelOptions& o);
// Writes the checkpoint; returns a one-line summary (model, parameters, path).
std::string init_model(const InitModelOptions& o);

}  // namespace scanlab::models
