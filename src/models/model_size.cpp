#include "models/model_size.h"

#include <algorithm>

#include "models/registry.h"

namespace scanlab::models {
namespace {

double int_key(const nlohmann::json& config, const std::string& key) {
  return config.contains(key) && config[key].is_number_integer() ? static_cast<double>(config[key].get<int64_t>())
                                                                 : 1.0;
}

// Keys a query's score row spans at `tokens` tokens; 0 for models without softmax attention.
double attention_span(const nlohmann::json& config, double tokens) {
  const std::string model = config["model"].get<std::string>();
  if (model == "gpt2" || model == "sliding_window") return tokens;
  if (model == "transformer_psm") return std::min(tokens, 2.0 * int_key(config, "chunk_size"));
  return 0;
}

}  // namespace

ModelSizeEstimate estimate_model_size(const nlohmann::json& config) {
  ModelSizeEstimate e;
  e.parameters = model_parameters(config);
  const ModelEntry& entry = find_model(config["model"].get<std::string>());
  for (const SizeEvidence& s : entry.evidence) {
    if (s.dim == 1) e.width = int_key(config, s.key);
    if (s.dim < 0) e.layers += int_key(config, s.key);
  }
  // checkpoint_agg (T-PSM) keeps no activations inside the Agg layers from the forward to the backward:
  // the backward rebuilds one Agg level at a time, so about one Agg layer's worth is live at once.
  if (config.contains("checkpoint_agg") && config["checkpoint_agg"].is_boolean() &&
      config["checkpoint_agg"].get<bool>())
    e.layers -= std::max(0.0, int_key(config, "n_layer_agg") - 1);
  e.vocab = int_key(config, "vocab_size");
  e.heads = attention_span(config, 1) > 0 ? int_key(config, "n_head") : 0;
  e.activation_floats = kActivationFloats * e.width * e.layers + 3.0 * e.vocab;
  return e;
}

double attention_floats(const nlohmann::json& config, double tokens) {
  return 2.0 * estimate_model_size(config).heads * tokens * attention_span(config, tokens);
}

double training_bytes(const nlohmann::json& config, double batch, double tokens) {
  const ModelSizeEstimate e = estimate_model_size(config);
  return 4.0 * (4.0 * e.parameters + batch * tokens * e.activation_floats +
                batch * e.layers * attention_floats(config, tokens));
}

double inference_bytes(const nlohmann::json& config, double batch, double tokens) {
  const ModelSizeEstimate e = estimate_model_size(config);
  return 4.0 * (e.parameters + batch * tokens * (kActivationFloats * e.width + 3.0 * e.vocab) +
                batch * attention_floats(config, tokens));
}

double weight_bytes(const nlohmann::json& config, double bytes_per_element) {
  return bytes_per_element * model_parameters(config);
}

}  // namespace scanlab::models
