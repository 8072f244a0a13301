#include "flops.h"

#include <algorithm>

#include "core/check.h"
#include "scan/blelloch.h"

namespace scanlab::bench {
namespace {

double d(int64_t x) { return static_cast<double>(x); }

int64_t get(const nlohmann::json& c, const char* key) {
  SCANLAB_CHECK(c.contains(key) && c[key].is_number_integer(), "FLOP count: config of '",
                c.value("model", std::string("?")), "' lacks the integer key '", key, "'");
  return c[key].get<int64_t>();
}

// Forward FLOPs of softmax attention over `seqs` sequences of length S (queries) x K (keys), width
// D: QKᵀ and A·V, 2 FLOPs per multiply-add, the full S x K rectangle.
double attention_fwd(double seqs, double S, double K, double D) { return seqs * 4.0 * S * K * D; }

ChunkedOp affine_model_op(const std::string& model) {
  if (model == "linear_attention") return ChunkedOp::LinearAttention;
  if (model == "retnet") return ChunkedOp::ScalarGate;
  if (model == "gla") return ChunkedOp::VectorGate;
  if (model == "mlstm") return ChunkedOp::Mlstm;
  if (model == "gated_deltanet") return ChunkedOp::GatedDeltaRule;
  SCANLAB_FAIL("FLOP count: '", model, "' is not a q/k/v affine model");
  throw;  // unreachable
}

// AffineLm's SwiGLU width: mlp_hidden, or 8/3 d rounded up to a multiple of 8 when it is 0.
int64_t swiglu_width(const nlohmann::json& c) {
  const int64_t m = get(c, "mlp_hidden"), dm = get(c, "d_model");
  return m > 0 ? m : (8 * dm / 3 + 7) / 8 * 8;
}

}  // namespace

double chunked_op_flops(ChunkedOp op, const ChunkedOpShape& s, bool backward) {
  const double C = d(std::min(s.chunk, std::max<int64_t>(s.seq_len, 1))), K = d(s.dk);
  // mLSTM's normalizer n_t = f_t n_{t-1} + i_t k_t is one more value column of the same recurrence.
  const double V = d(s.dv) + (op == ChunkedOp::Mlstm ? 1.0 : 0.0);
  double per_token_head = 0;  // times 2 N H below
  if (op == ChunkedOp::DeltaRule || op == ChunkedOp::GatedDeltaRule) {
    // The affine terms plus, per chunk: β K Kᵀ (2C²K), the triangular solve for U (C²V) and the
    // (βγK)·h term of its right-hand side (2CKV); backward counted as twice these.
    per_token_head = backward ? 10 * K * V + 6 * C * K + 4.5 * C * V : 3 * K * V + 2 * C * K + 1.5 * C * V;
  } else {
    per_token_head = backward ? 7 * K * V + 3 * C * K + 3 * C * V : 2 * K * V + C * K + C * V;
  }
  return 2.0 * d(s.tokens) * d(s.heads) * per_token_head;
}

double gpt2_train_flops(const nlohmann::json& c, int64_t batch, int64_t T) {
  const double D = d(get(c, "n_embd")), L = d(get(c, "n_layer")), V = d(get(c, "vocab_size"));
  const double tokens = d(batch) * d(T);
  const int64_t window = c.value("window", int64_t{0});
  const double keys = window > 0 ? d(std::min(window, T)) : d(T);
  // Per block: c_attn 3D², attn c_proj D², c_fc 4D², mlp c_proj 4D²; head D·V (tied or not).
  const double fwd = 2.0 * tokens * (L * 12.0 * D * D + D * V) + L * attention_fwd(d(batch), d(T), keys, D);
  return 3.0 * fwd;
}

int64_t transformer_psm_agg_pairs(int64_t chunks) {
  if (chunks <= 2) return 0;  // chunks 1..n-1 need the prefixes of chunks 0..n-2; one chunk is its own prefix
  scan::AggCounter counter;
  const scan::BatchedAgg<int> agg = [](const std::vector<int>& older, const std::vector<int>&) { return older; };
  scan::blelloch_scan<int>(std::vector<int>(static_cast<size_t>(chunks - 1), 0), agg, scan::ScanKind::Inclusive,
                           &counter);
  return counter.pairs;
}

double transformer_psm_train_flops(const nlohmann::json& c, int64_t batch, int64_t T) {
  const double D = d(get(c, "n_embd")), V = d(get(c, "vocab_size"));
  const double L_agg = d(get(c, "n_layer_agg")), L_inf = d(get(c, "n_layer_inf"));
  const int64_t C = get(c, "chunk_size"), n = (T + C - 1) / C;  // the last chunk is zero-padded
  const double B = d(batch), c1 = d(C), c2 = 2.0 * d(C), pairs = d(transformer_psm_agg_pairs(n));
  // Inf: chunk 0 over its C tokens, chunks 1..n-1 over [prefix | chunk] (2C); Agg: each pair over 2C.
  const double inf_seqs_2c = d(n - 1) * B, agg_seqs = pairs * B;
  const double inf_tokens = B * c1 + inf_seqs_2c * c2, agg_tokens = agg_seqs * c2;
  const double fwd = 2.0 * 12.0 * D * D * (L_inf * inf_tokens + L_agg * agg_tokens) +
                     L_inf * (attention_fwd(B, c1, c1, D) + attention_fwd(inf_seqs_2c, c2, c2, D)) +
                     L_agg * attention_fwd(agg_seqs, c2, c2, D) + 2.0 * D * V * B * d(T);
  return 3.0 * fwd;
}

double qkv_affine_train_flops(const nlohmann::json& c, int64_t batch, int64_t T) {
  const std::string model = c.value("model", std::string());
  const ChunkedOp op = affine_model_op(model);
  const int64_t H = get(c, "n_heads"), Dm = get(c, "d_model");
  const double D = d(Dm), L = d(get(c, "n_layers")), V = d(get(c, "vocab_size")), M = d(swiglu_width(c));
  double mixer = 5.0 * D * D;                                                  // q, k, v, output gate g, o
  if (model == "gla") mixer += 2.0 * D * d(get(c, "gate_rank"));               // gk_down, gk_up
  if (model == "mlstm" || model == "gated_deltanet") mixer += 2.0 * D * d(H);  // i/f or b/a gates
  const double tokens = d(batch) * d(T);
  const ChunkedOpShape s{batch * T, T, H, Dm / H, Dm / H, get(c, "chunk_len")};
  return 6.0 * tokens * (L * (mixer + 3.0 * D * M) + D * V) + L * chunked_op_flops(op, s, true);
}

double mamba2_train_flops(const nlohmann::json& c, int64_t batch, int64_t T) {
  const int64_t Dm = get(c, "d_model"), E = get(c, "expand") * Dm, N = get(c, "d_state"), H = get(c, "n_heads");
  const double D = d(Dm), L = d(get(c, "n_layers")), V = d(get(c, "vocab_size")), M = d(swiglu_width(c));
  const double mixer = D * d(2 * E + 2 * N + H) + d(E) * D;  // in_proj -> [z | x B C | Δ], out_proj
  const double tokens = d(batch) * d(T);
  const ChunkedOpShape s{batch * T, T, H, N, E / H, get(c, "chunk_len")};  // K = d_state, V = head dim P
  return 6.0 * tokens * (L * (mixer + 3.0 * D * M) + D * V) + L * chunked_op_flops(ChunkedOp::ScalarGate, s, true);
}

double mamba_train_flops(const nlohmann::json& c, int64_t batch, int64_t T) {
  const int64_t Dm = get(c, "d_model"), E = get(c, "expand") * Dm, N = get(c, "d_state");
  const int64_t R = get(c, "dt_rank") > 0 ? get(c, "dt_rank") : (Dm + 15) / 16;
  const double D = d(Dm), L = d(get(c, "n_layers")), V = d(get(c, "vocab_size")), M = d(swiglu_width(c));
  // in_proj D -> 2E, x_proj E -> R + 2N, dt_proj R -> E, out_proj E -> D.
  const double mixer = D * 2.0 * d(E) + d(E) * d(R + 2 * N) + d(R) * d(E) + d(E) * D;
  const double tokens = d(batch) * d(T);
  // The element-wise scan: per (token, channel, state) exp(ΔA) and a·h (2), Δx·B (1), C·h (2), + 1.
  const double scan_fwd = 6.0 * d(E) * d(N) * tokens;
  return 6.0 * tokens * (L * (mixer + 3.0 * D * M) + D * V) + L * 3.0 * scan_fwd;
}

double model_train_flops(const nlohmann::json& config, int64_t batch, int64_t T) {
  const std::string model = config.value("model", std::string());
  if (model == "gpt2" || model == "sliding_window") return gpt2_train_flops(config, batch, T);
  if (model == "transformer_psm") return transformer_psm_train_flops(config, batch, T);
  if (model == "mamba2") return mamba2_train_flops(config, batch, T);
  if (model == "mamba") return mamba_train_flops(config, batch, T);
  for (const char* m : {"linear_attention", "retnet", "gla", "mlstm", "gated_deltanet"})
    if (model == m) return qkv_affine_train_flops(config, batch, T);
  SCANLAB_FAIL("FLOP count: no count for model '", model,
               "'; counted: gpt2, sliding_window, transformer_psm, linear_attention, retnet, gla, mlstm, "
               "gated_deltanet, mamba2, mamba");
  throw;  // unreachable
}

}  // namespace scanlab::bench
