// Model registry: one table maps a model name to its factory, to a small configuration that the
// shared duality test (tests/models/test_duality.cpp) and quick demos use, and to a sizing hook
// that the benchmarks use to build every model at one width and depth. Every model registers
// here; the shared tests run over every entry with no skip list.
#pragma once
#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "models/sequence_model.h"

namespace scanlab::models {

// Sizes a benchmark asks for; each model maps them onto its own config keys (sized_config).
struct ModelSize {
  int64_t width = 128;      // n_embd / d_model
  int64_t depth = 2;        // layers (T-PSM: this many Agg and this many Inf layers)
  int64_t heads = 0;        // attention / mixer heads; 0 means mixer width / head_dim
  int64_t head_dim = 64;    // used when heads == 0
  int64_t state_size = 16;  // d_state of Mamba and Mamba2
  int64_t chunk = 64;       // T-PSM chunk size; chunk length of the affine models' chunked ops
  int64_t vocab = 256;
  int64_t window = 256;                // sliding-window size
  int64_t max_positions = 1024;        // learned positions (GPT-2, global T-PSM positions)
  bool chunk_local_positions = false;  // T-PSM: positions 0..C-1 in every chunk (unbounded streams)

  // Heads for a mixer of width `mixer_width`: `heads` if set, else mixer_width / head_dim (>= 1).
  int64_t heads_for(int64_t mixer_width) const;
};

// How one size key of a model's config shows in the tensors of its model file. Checked against the
// file's tensors before the model is built (check_config_against_tensors), so a small file cannot
// make the loader allocate the 10^12 layers its config claims.
struct SizeEvidence {
  std::string key;     // config key, e.g. "n_layer_inf"
  std::string tensor;  // a tensor name ("wte.weight"), or a layer prefix ending in '.' ("inf.h.")
  int64_t dim = -1;    // the dimension of `tensor` that equals the key's value; -1: layers under the prefix
};

struct ModelEntry {
  std::string name;
  std::string description;
  // Builds a model from {"model": name, ...}; unknown or bad keys are errors naming them.
  std::function<std::shared_ptr<SequenceModel>(const nlohmann::json& config)> make;
  // A small configuration (a few layers, narrow, small vocabulary) for tests.
  std::function<nlohmann::json()> small_config;
  // A configuration at the given sizes (the benchmarks' models). Keys the model lacks are ignored;
  // sizes it cannot take (heads that do not divide its width) fail when the model is made.
  std::function<nlohmann::json(const ModelSize&)> sized_config;
  // The size keys a model file's tensors must agree with (every key the tensors show directly).
  std::vector<SizeEvidence> evidence;
  // Elements of the parameters and buffers the config describes, counted from the options alone:
  // nothing is allocated, so commands can check sizes against the machine before building. Bad keys
  // are the errors `make` gives. A double, so 10^12 layers of width 10^6 do not overflow; exact
  // below 2^53 (tests/models/test_model_size.cpp compares it with every entry's built model).
  std::function<double(const nlohmann::json& config)> parameters;
};

const std::vector<ModelEntry>& model_registry();
std::vector<std::string> model_names();
const ModelEntry& find_model(const std::string& name);  // error lists the known names
std::shared_ptr<SequenceModel> make_model(const nlohmann::json& config);
// find_model(config["model"]).parameters(config), after make_model's check of the "model" field.
double model_parameters(const nlohmann::json& config);

}  // namespace scanlab::models
