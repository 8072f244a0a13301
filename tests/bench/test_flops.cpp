// FLOP counts of bench/flops.h against hand counts for tiny configs (the arithmetic is spelled out
// so a reader can redo it), the S1 figures of bench/README.md, and a count for every
// registered model's own config.
#include <gtest/gtest.h>

#include "core/check.h"
#include "flops.h"
#include "models/registry.h"

namespace scanlab::bench {
namespace {

TEST(ChunkedOpFlops, MatchPerformanceMdAtS1) {
  // N = 16,384, H = 16, d = 128, C = 64: 25.8 GFLOP forward, 86 GFLOP forward + backward.
  const ChunkedOpShape s1{16384, 4096, 16, 128, 128, 64};
  EXPECT_DOUBLE_EQ(chunked_op_flops(ChunkedOp::ScalarGate, s1, false),
                   2.0 * 16384 * 16 * (64 * 128 * 2 + 2 * 128 * 128));
  EXPECT_NEAR(chunked_op_flops(ChunkedOp::ScalarGate, s1, false), 25.8e9, 0.05e9);
  EXPECT_NEAR(chunked_op_flops(ChunkedOp::VectorGate, s1, true), 85.9e9, 0.1e9);
  EXPECT_EQ(chunked_op_flops(ChunkedOp::LinearAttention, s1, true), chunked_op_flops(ChunkedOp::ScalarGate, s1, true));
}

TEST(ChunkedOpFlops, HandCountsForTinyShapes) {
  const ChunkedOpShape s{4, 4, 2, 2, 2, 64};  // N 4, T 4 (so a chunk is 4 tokens), H 2, K = V = 2
  // affine fwd: 2 N H (C K + C V + 2 K V) = 16 (8 + 8 + 8)
  EXPECT_DOUBLE_EQ(chunked_op_flops(ChunkedOp::ScalarGate, s, false), 16.0 * 24);
  // affine fwd+bwd: 16 (7 K V + 3 C K + 3 C V) = 16 (28 + 24 + 24)
  EXPECT_DOUBLE_EQ(chunked_op_flops(ChunkedOp::VectorGate, s, true), 16.0 * 76);
  // mLSTM: V + 1 = 3 (the normalizer column): fwd 16 (8 + 12 + 12)
  EXPECT_DOUBLE_EQ(chunked_op_flops(ChunkedOp::Mlstm, s, false), 16.0 * 32);
  // delta rule fwd: 16 (3 K V + 2 C K + 1.5 C V) = 16 (12 + 16 + 12); fwd+bwd 16 (40 + 48 + 36)
  EXPECT_DOUBLE_EQ(chunked_op_flops(ChunkedOp::DeltaRule, s, false), 16.0 * 40);
  EXPECT_DOUBLE_EQ(chunked_op_flops(ChunkedOp::GatedDeltaRule, s, true), 16.0 * 124);
}

TEST(ModelTrainFlops, Gpt2ByHand) {
  nlohmann::json c{{"model", "gpt2"}, {"n_embd", 4}, {"n_layer", 1}, {"vocab_size", 10}, {"n_head", 2}};
  // B 2, T 3: 6 tokens. Linear 12 D² = 192, head D V = 40: 2 * 6 * 232 = 2784. Attention 4 B T T D = 288.
  // Training = 3 x (2784 + 288).
  EXPECT_DOUBLE_EQ(gpt2_train_flops(c, 2, 3), 3.0 * (2784 + 288));
  c["model"] = "sliding_window";
  c["window"] = 2;  // keys per query min(W, T) = 2: attention 4 * 2 * 3 * 2 * 4 = 192
  EXPECT_DOUBLE_EQ(model_train_flops(c, 2, 3), 3.0 * (2784 + 192));
}

TEST(ModelTrainFlops, TransformerPsmByHand) {
  // 3 prefix states (chunks 0..2 of 4): the inclusive Blelloch scan aggregates 2 pairs
  // (up-sweep x0·x1, down-sweep (x0 x1)·x2); 2 states need 1 pair; one chunk none.
  EXPECT_EQ(transformer_psm_agg_pairs(4), 2);
  EXPECT_EQ(transformer_psm_agg_pairs(3), 1);
  EXPECT_EQ(transformer_psm_agg_pairs(1), 0);
  const nlohmann::json c{{"model", "transformer_psm"}, {"n_embd", 4},      {"n_layer_agg", 1},
                         {"n_layer_inf", 1},           {"vocab_size", 10}, {"chunk_size", 2}};
  // B 1, T 8, C 2: 4 chunks. Inf tokens 2 (chunk 0) + 3 * 4 ([prefix | chunk]) = 14; Agg tokens 2 * 4 = 8.
  // Linear 2 * 12 D² * 22 = 8448. Inf attention 4 * 2 * 2 * 4 + 3 * 4 * 4 * 4 * 4 = 64 + 768;
  // Agg attention 2 * 256 = 512; head 2 D V T = 640.
  EXPECT_DOUBLE_EQ(transformer_psm_train_flops(c, 1, 8), 3.0 * (8448 + 832 + 512 + 640));
}

TEST(ModelTrainFlops, AffineModelsByHand) {
  nlohmann::json c{{"model", "gla"},   {"d_model", 4},    {"n_heads", 2},   {"n_layers", 1},
                   {"vocab_size", 10}, {"mlp_hidden", 8}, {"gate_rank", 2}, {"chunk_len", 2}};
  // B 1, T 4. Mixer 5 D² + 2 D r = 96, SwiGLU 3 D M = 96, head 40: 6 * 4 * 232 = 5568.
  // Op (K = V = 2, C = 2, N = 4, H = 2): 2 N H (7 K V + 3 C K + 3 C V) = 16 * 52.
  EXPECT_DOUBLE_EQ(qkv_affine_train_flops(c, 1, 4), 5568 + 16.0 * 52);
  c["model"] = "mlstm";  // i/f gates 2 D H = 16 (mixer 96 again); V + 1 = 3: 7 K V 42, 3 C K 12, 3 C V 18
  EXPECT_DOUBLE_EQ(model_train_flops(c, 1, 4), 5568 + 16.0 * 72);
  c["model"] = "gated_deltanet";  // b/a gates 2 D H = 16; op 10 K V + 6 C K + 4.5 C V = 40 + 24 + 18
  EXPECT_DOUBLE_EQ(model_train_flops(c, 1, 4), 5568 + 16.0 * 82);
  nlohmann::json m2{{"model", "mamba2"}, {"d_model", 4},     {"expand", 2},     {"d_state", 2},  {"n_heads", 2},
                    {"n_layers", 1},     {"vocab_size", 10}, {"mlp_hidden", 8}, {"chunk_len", 2}};
  // E 8, P 4. in_proj D (2E + 2N + H) = 88, out_proj E D = 32, SwiGLU 96, head 40: 6 * 4 * 256 = 6144.
  // Op scalar gate, K = N = 2, V = P = 4: 16 * (56 + 12 + 24).
  EXPECT_DOUBLE_EQ(mamba2_train_flops(m2, 1, 4), 6144 + 16.0 * 92);
  nlohmann::json m{{"model", "mamba"}, {"d_model", 4},     {"expand", 2},     {"d_state", 2},  {"dt_rank", 0},
                   {"n_layers", 1},    {"vocab_size", 10}, {"mlp_hidden", 8}, {"chunk_len", 2}};
  // dt_rank ceil(4/16) = 1. in_proj 64, x_proj 8 * 5 = 40, dt_proj 8, out_proj 32, SwiGLU 96, head 40:
  // 6 * 4 * 280 = 6720. Scan 3 * 6 E N tokens = 3 * 384.
  EXPECT_DOUBLE_EQ(mamba_train_flops(m, 1, 4), 6720 + 3.0 * 384);
}

TEST(ModelTrainFlops, CountsEveryRegisteredModelFromItsOwnConfig) {
  models::ModelSize size;
  size.width = 32;
  size.depth = 1;
  size.chunk = 4;
  size.vocab = 16;
  size.window = 8;
  size.max_positions = 16;
  for (const auto& name : models::model_names()) {
    auto model = models::make_model(models::find_model(name).sized_config(size));
    EXPECT_GT(model_train_flops(model->config(), 2, 16), 0.0) << name;
  }
  EXPECT_THROW(model_train_flops({{"model", "nosuch"}}, 1, 1), Error);
}

}  // namespace
}  // namespace scanlab::bench
