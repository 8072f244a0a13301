// Memory a model will take, estimated from its config alone before anything is built, so commands
// refuse sizes the machine cannot hold (core/memory.h) instead of being killed for memory.
//   parameters   ModelEntry::parameters (exact)
//   activations  a rough kActivationFloats x width x layers floats a token in training (the block's
//                inputs, normed inputs, mixer and MLP intermediates kept for the backward), plus
//                3 x vocab_size a token for the logits, their log-softmax and its gradient
// The width and depth are the config keys the registry's evidence names (the embedding's width,
// the layer counts); a key left at its default counts as 1, so defaults are underestimated.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>

namespace scanlab::models {

constexpr double kActivationFloats = 24.0;

struct ModelSizeEstimate {
  double parameters = 0;            // elements of the parameters and buffers
  double activation_floats = 0;     // a token, in training
};

ModelSizeEstimate estimate_model_size(const nlohmann::json& config);
// Training in float32 with AdamW: weights, gradients and two moments (16 bytes a parameter) plus
// the activations of `tokens` tokens (a micro-batch of batch x seq_len).
double training_bytes(const nlohmann::json& config, double tokens);
// The weights alone, at `bytes_per_element` (4: float32).
double weight_bytes(const nlohmann::json& config, double bytes_per_element = 4.0);

}  // namespace scanlab::models
