// Memory a model will take, estimated from its config alone before anything is built, so commands
// refuse sizes the machine cannot hold (core/memory.h) instead of being killed for memory.
//   parameters   ModelEntry::parameters (exact)
//   activations  a rough kActivationFloats x width x layers floats a token in training (the block's
//                inputs, normed inputs, mixer and MLP intermediates kept for the backward), plus
//                3 x vocab_size a token for the logits, their log-softmax and its gradient
//   attention    softmax attention's score matrix, float32: heads x T x span a sequence and layer
//                (scores and probabilities), span = T for GPT-2 and the sliding window (a banded
//                mask over the full T x T matrix), 2 x chunk_size for the T-PSM (a chunk's queries
//                see the chunk and one prefix state); kept for every layer in training, one layer
//                at a time in inference
// The width and depth are the config keys the registry's evidence names (the embedding's width,
// the layer counts); a key left at its default counts as 1, so defaults are underestimated.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>

namespace scanlab::models {

constexpr double kActivationFloats = 24.0;

struct ModelSizeEstimate {
  double parameters = 0;         // elements of the parameters and buffers
  double activation_floats = 0;  // a token, in training (every layer)
  double width = 1, layers = 0, heads = 0, vocab = 1;
};

ModelSizeEstimate estimate_model_size(const nlohmann::json& config);
// Floats of the attention score matrices of one sequence of `tokens` tokens in one layer (scores
// and probabilities); 0 for attention-free models.
double attention_floats(const nlohmann::json& config, double tokens);
// Training in float32 with AdamW: weights, gradients and two moments (16 bytes a parameter) plus
// the activations and every layer's attention scores of `batch` sequences of `tokens` tokens.
double training_bytes(const nlohmann::json& config, double batch, double tokens);
// Inference in float32 without gradients (score, eval): the weights, one layer's activations and
// attention scores, and the logits of `batch` sequences of `tokens` tokens.
double inference_bytes(const nlohmann::json& config, double batch, double tokens);
// The weights alone, at `bytes_per_element` (4: float32).
double weight_bytes(const nlohmann::json& config, double bytes_per_element = 4.0);

}  // namespace scanlab::models
