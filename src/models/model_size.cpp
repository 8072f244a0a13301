#include "models/model_size.h"

#include "models/registry.h"

namespace scanlab::models {
namespace {

double int_key(const nlohmann::json& config, const std::string& key) {
  return config.contains(key) && config[key].is_number_integer() ? static_cast<double>(config[key].get<int64_t>())
                                                                    : 1.0;
}

}  // namespace

ModelSizeEstimate estimate_model_size(const nlohmann::json& config) {
  ModelSizeEstimate e;
  e.parameters = model_parameters(config);
  const ModelEntry& entry = find_model(config["model"].get<std::string>());
  double width = 1, layers = 0;
  for (const SizeEvidence& s : entry.evidence) {
    if (s.dim == 1) width = int_key(config, s.key);
    if (s.dim < 0) layers += int_key(config, s.key);
  }
  e.activation_floats = kActivationFloats * width * layers + 3.0 * int_key(config, "vocab_size");
  return e;
}

double training_bytes(const nlohmann::json& config, double tokens) {
  const ModelSizeEstimate e = estimate_model_size(config);
  return 4.0 * (4.0 * e.parameters + tokens * e.activation_floats);
}

double weight_bytes(const nlohmann::json& config, double bytes_per_element) {
  return bytes_per_element * model_parameters(config);
}

}  // namespace scanlab::models
