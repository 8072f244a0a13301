// FLOP counts for the benchmarks' TFLOP/s columns (conventions and hand counts: bench/README.md).
// 2 FLOPs per multiply-add. Chunked ops follow bench/README.md (full C x C tiles); model
// training steps count the matmuls as 6 x parameters x tokens (forward 2, backward 4), attention as
// 3 x its forward (QKᵀ and AV over the full square, causal counted as full) and each layer's chunked
// op by its fwd+bwd formula. Norms, activations, gates' elementwise math and convolutions are left out.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "ops/registry.h"

namespace scanlab::bench {

// The chunked ops of `scanlab bench ops` (each registry entry names its kind), and the op each affine
// model runs.
using ChunkedOp = ops::OpKind;

struct ChunkedOpShape {
  int64_t tokens = 0;   // N = B * T
  int64_t seq_len = 0;  // T (a chunk is min(C, T) tokens long)
  int64_t heads = 0, dk = 0, dv = 0, chunk = 64;
};

// Forward (backward = false) or forward + backward FLOPs of one call.
double chunked_op_flops(ChunkedOp op, const ChunkedOpShape& s, bool backward);

// Training-step FLOPs (forward + loss + backward) of a [batch, T] batch, one function per model
// family; `config` is the model's own config() (every key present).
double gpt2_train_flops(const nlohmann::json& config, int64_t batch, int64_t T);  // gpt2, sliding_window
double transformer_psm_train_flops(const nlohmann::json& config, int64_t batch, int64_t T);
double qkv_affine_train_flops(const nlohmann::json& config, int64_t batch,
                              int64_t T);  // linear attn, RetNet, GLA, mLSTM, Gated DeltaNet
double mamba2_train_flops(const nlohmann::json& config, int64_t batch, int64_t T);
double mamba_train_flops(const nlohmann::json& config, int64_t batch, int64_t T);
// Routes on config["model"]; an unknown model is an error naming the families counted.
double model_train_flops(const nlohmann::json& config, int64_t batch, int64_t T);

// Agg pairs the T-PSM's parallel forward aggregates for T / C chunks (all tree levels summed).
int64_t transformer_psm_agg_pairs(int64_t chunks);

}  // namespace scanlab::bench
