#include "models/registry.h"

#include "core/check.h"
#include "models/affine_family.h"

namespace scanlab::models {

const std::vector<ModelEntry>& model_registry() {
  // One line per model; keep alphabetical to ease merges.
  static const std::vector<ModelEntry> entries = {
      gated_deltanet_entry(),
      gla_entry(),
      linear_attention_entry(),
      mamba_entry(),
      mamba2_entry(),
      mlstm_entry(),
      retnet_entry(),
  };
  return entries;
}

std::vector<std::string> model_names() {
  std::vector<std::string> names;
  for (const auto& e : model_registry()) names.push_back(e.name);
  return names;
}

const ModelEntry& find_model(const std::string& name) {
  std::string known;
  for (const auto& e : model_registry()) {
    if (e.name == name) return e;
    known += (known.empty() ? "" : ", ") + e.name;
  }
  SCANLAB_CHECK(false, "unknown model '", name, "'; known models: ", known.empty() ? "(none)" : known);
  throw;  // unreachable
}

std::shared_ptr<SequenceModel> make_model(const nlohmann::json& config) {
  SCANLAB_CHECK(config.is_object() && config.contains("model") && config["model"].is_string(),
                "model config must be a JSON object with a string field \"model\", got ", config.dump());
  return find_model(config["model"].get<std::string>()).make(config);
}

}  // namespace scanlab::models
