// Model registry: one table maps a model name to its factory and to a small configuration that the
// shared duality test (tests/models/test_duality.cpp) and quick demos use. Every model registers
// here; the shared tests run over every entry with no skip list.
#pragma once
#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "models/sequence_model.h"

namespace scanlab::models {

struct ModelEntry {
  std::string name;
  std::string description;
  // Builds a model from {"model": name, ...}; unknown or bad keys are errors naming them.
  std::function<std::shared_ptr<SequenceModel>(const nlohmann::json& config)> make;
  // A small configuration (a few layers, narrow, small vocabulary) for tests.
  std::function<nlohmann::json()> small_config;
};

const std::vector<ModelEntry>& model_registry();
std::vector<std::string> model_names();
const ModelEntry& find_model(const std::string& name);  // error lists the known names
std::shared_ptr<SequenceModel> make_model(const nlohmann::json& config);

}  // namespace scanlab::models
