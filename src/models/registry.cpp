#include "models/registry.h"

#include <algorithm>

#include "core/check.h"
#include "core/registry.h"
#include "models/affine/affine_family.h"
#include "models/gpt2.h"
#include "models/transformer_psm.h"

namespace scanlab::models {

int64_t ModelSize::heads_for(int64_t mixer_width) const {
  if (heads > 0) return heads;
  SCANLAB_CHECK(head_dim >= 1, "model size: head_dim ", head_dim, " must be >= 1");
  return std::max<int64_t>(1, mixer_width / head_dim);
}

namespace {

nlohmann::json gpt2_sized(const std::string& name, const ModelSize& s) {
  nlohmann::json c{{"model", name},     {"vocab_size", s.vocab},          {"n_positions", s.max_positions},
                   {"n_embd", s.width}, {"n_head", s.heads_for(s.width)}, {"n_layer", s.depth}};
  if (name == "sliding_window") {
    c["window"] = s.window;
    c["tie_word_embeddings"] = false;
  }
  return c;
}

// Token and position embeddings, the stack, and an untied head.
double gpt2_parameters(const nlohmann::json& c, bool sliding) {
  const Gpt2Options o = Gpt2Options::from_json(c, sliding);
  const double d = static_cast<double>(o.n_embd), v = static_cast<double>(o.vocab_size);
  return v * d + static_cast<double>(o.n_positions) * d + gpt2_stack_parameters(o.n_layer, o.n_embd) +
         (o.tie_word_embeddings ? 0.0 : v * d);
}

double transformer_psm_parameters(const nlohmann::json& c) {
  const TransformerPsmOptions o = TransformerPsmOptions::from_json(c);
  const double d = static_cast<double>(o.n_embd), v = static_cast<double>(o.vocab_size);
  return 2.0 * v * d + static_cast<double>(o.n_positions) * d + gpt2_stack_parameters(o.n_layer_agg, o.n_embd) +
         gpt2_stack_parameters(o.n_layer_inf, o.n_embd);
}

// wte [vocab_size, n_embd], wpe [n_positions, n_embd]; the blocks "h.<i>." (under `stacks`).
std::vector<SizeEvidence> gpt2_evidence(const std::vector<std::pair<std::string, std::string>>& stacks) {
  std::vector<SizeEvidence> e{
      {"vocab_size", "wte.weight", 0}, {"n_embd", "wte.weight", 1}, {"n_positions", "wpe.weight", 0}};
  for (const auto& [key, prefix] : stacks) e.push_back({key, prefix, -1});
  return e;
}

nlohmann::json transformer_psm_sized(const ModelSize& s) {
  return {{"model", "transformer_psm"},
          {"vocab_size", s.vocab},
          {"n_embd", s.width},
          {"n_head", s.heads_for(s.width)},
          {"n_layer_agg", s.depth},
          {"n_layer_inf", s.depth},
          {"chunk_size", s.chunk},
          {"position_mode", s.chunk_local_positions ? "chunk_local" : "global"},
          {"n_positions", s.chunk_local_positions ? s.chunk : std::max(s.max_positions, s.chunk)}};
}

}  // namespace

const std::vector<ModelEntry>& model_registry() {
  // One line per model; keep alphabetical to ease merges.
  static const std::vector<ModelEntry> entries = {
      gated_deltanet_entry(),
      gla_entry(),
      {"gpt2", "GPT-2: causal softmax attention, KV cache growing with T (SPD(n^2, n))",
       [](const nlohmann::json& c) { return std::make_shared<Gpt2Model>(Gpt2Options::from_json(c, false)); },
       [] {
         return nlohmann::json{{"model", "gpt2"}, {"vocab_size", 37}, {"n_positions", 32},
                               {"n_embd", 16},    {"n_head", 2},      {"n_layer", 2}};
       },
       [](const ModelSize& s) { return gpt2_sized("gpt2", s); }, gpt2_evidence({{"n_layer", "h."}}),
       [](const nlohmann::json& c) { return gpt2_parameters(c, false); }},
      linear_attention_entry(),
      mamba_entry(),
      mamba2_entry(),
      mlstm_entry(),
      retnet_entry(),
      {"sliding_window", "GPT-2 blocks attending to the last W tokens; ring-buffer cache of W entries",
       [](const nlohmann::json& c) { return std::make_shared<Gpt2Model>(Gpt2Options::from_json(c, true)); },
       [] {
         return nlohmann::json{{"model", "sliding_window"},
                               {"vocab_size", 37},
                               {"n_positions", 32},
                               {"n_embd", 16},
                               {"n_head", 2},
                               {"n_layer", 2},
                               {"window", 4},
                               {"tie_word_embeddings", false}};
       },
       [](const ModelSize& s) { return gpt2_sized("sliding_window", s); }, gpt2_evidence({{"n_layer", "h."}}),
       [](const nlohmann::json& c) { return gpt2_parameters(c, true); }},
      {"transformer_psm", "Transformer-PSM: softmax-attention Agg over a Blelloch tree of chunk states (SPD(n, log n))",
       [](const nlohmann::json& c) { return std::make_shared<TransformerPsm>(TransformerPsmOptions::from_json(c)); },
       [] {
         return nlohmann::json{
             {"model", "transformer_psm"}, {"vocab_size", 37}, {"n_positions", 32}, {"n_embd", 16}, {"n_head", 2},
             {"n_layer_agg", 2},           {"n_layer_inf", 2}, {"chunk_size", 4}};
       },
       transformer_psm_sized, gpt2_evidence({{"n_layer_agg", "agg.h."}, {"n_layer_inf", "inf.h."}}),
       transformer_psm_parameters},
  };
  return entries;
}

std::vector<std::string> model_names() { return names_of(model_registry()); }

const ModelEntry& find_model(const std::string& name) { return find_by_name(model_registry(), name, "model"); }

namespace {

const ModelEntry& entry_of(const nlohmann::json& config) {
  SCANLAB_CHECK(config.is_object() && config.contains("model") && config["model"].is_string(),
                "model config must be a JSON object with a string field \"model\", got ", config.dump());
  return find_model(config["model"].get<std::string>());
}

}  // namespace

std::shared_ptr<SequenceModel> make_model(const nlohmann::json& config) { return entry_of(config).make(config); }

double model_parameters(const nlohmann::json& config) { return entry_of(config).parameters(config); }

}  // namespace scanlab::models
