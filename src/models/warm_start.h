// Warm start: a Transformer-PSM whose stacks start from a GPT-2 model file's blocks, so a user can
// begin from pretrained weights. The mapping (both use HF GPT-2 block names):
//   wte, wpe[:n_positions]          <- wte, wpe (the T-PSM's positions are the first rows)
//   inf.h.i (i < n_layer_inf)       <- h.i          inf.ln_f <- ln_f
//   agg.h.i (i < n_layer_agg)       <- h.i          agg.ln_f <- ln_f
//   head.weight                     <- lm_head.weight, or wte when GPT-2's head is tied
// Inf is the next-token predictor over [prefix | chunk], the role GPT-2's blocks were trained for;
// Agg starts from the same first blocks. With one chunk (T <= chunk_size), global positions and
// n_layer_inf = GPT-2's n_layer, the warm-started T-PSM computes GPT-2's logits exactly.
#pragma once
#include <string>
#include <vector>

#include "models/checkpoint.h"

namespace scanlab::models {

// `psm_config` is a transformer_psm config; n_embd, n_head and vocab_size default to GPT-2's and
// must match them. Errors name what does not fit (widths, layer counts, positions).
ModelFile warm_start_psm(const nlohmann::json& psm_config, const ModelFile& gpt2);

}  // namespace scanlab::models
