// Registry entries of the affine family (PSM paper §2): one model per file, all on the shared stack
// of affine_lm.h. registry.cpp lists them in its table.
#pragma once
#include "models/affine/affine_lm.h"
#include "models/registry.h"

namespace scanlab::models {

ModelEntry gated_deltanet_entry();
ModelEntry gla_entry();
ModelEntry linear_attention_entry();
ModelEntry mamba_entry();
ModelEntry mamba2_entry();
ModelEntry mlstm_entry();
ModelEntry retnet_entry();

// The names of the entries above: the models built on AffineLm.
std::vector<std::string> affine_model_names();

// The small test configuration every affine model starts from (narrow, 2 layers, chunk 8).
nlohmann::json affine_small_config(const std::string& model);
// The benchmarks' configuration: width, depth, vocabulary, chunk length, a SwiGLU of 4 x width (the
// GPT-2 MLP's width, so stacks compare) and, where `heads` is true, n_heads = size.heads_for(width).
nlohmann::json affine_sized_config(const std::string& model, const ModelSize& size, bool heads = true);
// What every affine model file shows of its config: "embed.weight" [vocab_size, d_model], and
// n_layers blocks "layers.<i>.".
std::vector<SizeEvidence> affine_evidence();
// Parameters of the shared stack (embedding, per layer two RMSNorms, the SwiGLU and a mixer of
// `mixer` parameters, final norm, head) with the options `lm`.
double affine_parameters(const AffineLmOptions& lm, double mixer);

}  // namespace scanlab::models
