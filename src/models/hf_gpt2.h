// Hugging Face GPT-2 interop. scanlab's GPT-2 already uses HF's parameter names and layouts (Conv1D
// weights [in, out]), so a file converts by its names alone:
//   import: `transformer.` prefix optional; `attn.bias` / `attn.masked_bias` (HF's causal-mask
//           buffers) dropped; `lm_head.weight` kept only when config.json unties it (a tied head
//           must equal wte); config.json gives n_embd, n_head, n_layer, n_positions (or n_ctx),
//           vocab_size, the dropouts, tie_word_embeddings, and must agree with what scanlab's blocks
//           compute (layer_norm_epsilon 1e-5, activation_function gelu_new, n_inner 4·n_embd).
//   export: <dir>/model.safetensors (names under `transformer.`, lm_head.weight when untied) and
//           <dir>/config.json, which GPT2LMHeadModel.from_pretrained(dir) loads.
#pragma once
#include <string>

#include "models/checkpoint.h"

namespace scanlab::models {

struct HfImportOptions {
  std::string path;                // a folder with config.json and model.safetensors, or the .safetensors file
  std::string tokenizer = "auto";  // auto (gpt2 for vocabulary 50257, else none) | gpt2 | none
  std::string bpe_dir;             // GPT-2 tokenizer files for gpt2 (default tokenize::kDefaultBpeDir)
};

// The scanlab GPT-2 model file of a Hugging Face GPT-2 checkpoint (checked by building the model).
ModelFile import_hf_gpt2(const HfImportOptions& o);
// Writes a GPT-2 model file (of kind "gpt2") in HF's layout into `dir` (created).
void export_hf_gpt2(const ModelFile& file, const std::string& dir);

// The CLI's `import-hf` and `export --format hf`: one-line summaries.
std::string import_hf_command(const HfImportOptions& o, const std::string& out);
std::string export_hf_command(const std::string& checkpoint, const std::string& dir);

}  // namespace scanlab::models
