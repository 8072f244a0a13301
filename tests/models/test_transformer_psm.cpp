// Transformer-PSM specifics: the online counter's stored states and the Inf cache bound, the
// parallel path's batched Agg call count, both agg_mask options (different functions, both dual),
// both position modes, and config errors that name the key and the allowed values.
#include <gtest/gtest.h>

#include <bitset>
#include <cmath>

#include "core/check.h"
#include "models/checkpoint.h"
#include "models/registry.h"
#include "models/transformer_psm.h"
#include "scan/blelloch.h"
#include "support/model_checks.h"

namespace scanlab::models {
namespace {

std::shared_ptr<TransformerPsm> make_psm(nlohmann::json overrides, at::ScalarType dtype = at::kDouble) {
  at::manual_seed(5);
  nlohmann::json config = find_model("transformer_psm").small_config();
  if (!overrides.is_null()) config.update(overrides);
  auto m = std::dynamic_pointer_cast<TransformerPsm>(make_model(config));
  testing::widen_weights(*m);
  m->to(dtype);
  m->eval();
  return m;
}

TEST(TransformerPsm, StreamStoresTwoPopcountMinusOneChunkStates) {
  auto m = make_psm({{"chunk_size", 2}, {"position_mode", "chunk_local"}});
  torch::NoGradGuard no_grad;
  auto base = m->start_stream(1);
  auto* stream = dynamic_cast<TransformerPsmStream*>(base.get());
  ASSERT_NE(stream, nullptr);
  const int64_t c = 2;
  for (int64_t m_chunks = 1; m_chunks <= 33; ++m_chunks) {
    for (int64_t p = 0; p < c; ++p) {
      stream->step(at::randint(0, 37, {1}, at::kLong));
      EXPECT_LE(stream->inf_cache_entries(), 2 * c);
    }
    // After m complete chunks (m = 2^k - 1 and 2^k included for k = 1..5).
    const int64_t pop = static_cast<int64_t>(std::bitset<64>(m_chunks).count());
    EXPECT_EQ(stream->stored_chunk_states(), 2 * pop - 1) << "m = " << m_chunks;
    EXPECT_LE(stream->stored_chunk_states(), 2 * (static_cast<int64_t>(std::floor(std::log2(m_chunks))) + 1));
    EXPECT_EQ(stream->inf_cache_entries(), c) << "the next chunk's cache starts with the prefix state";
  }
}

// The overlapped boundary (a sealed copy of the chunk, the new prefix staged, then published) runs
// in order on the CPU: same arithmetic as the plain boundary, so the logits agree to the bit, and
// both agree with the parallel forward; on CUDA ModelCudaGraph runs it on a second stream.
TEST(TransformerPsm, SealedBoundaryPathGivesTheInOrderStreamBitForBit) {
  auto m = make_psm({{"chunk_size", 3}, {"n_positions", 64}});
  torch::NoGradGuard no_grad;
  const at::Tensor tokens = at::randint(0, 37, {2, 20}, at::kLong);
  const at::Tensor parallel = m->forward(tokens);
  auto sealed = m->start_stream(2), in_order = m->start_stream(2);
  EXPECT_FALSE(sealed->use_boundary_overlap(true)) << "no second stream on the CPU";
  in_order->use_boundary_overlap(false);
  for (int64_t t = 0; t < tokens.size(1); ++t) {
    const at::Tensor a = sealed->step(tokens.select(1, t)), b = in_order->step(tokens.select(1, t));
    EXPECT_TRUE(at::equal(a, b)) << "step " << t;
    testing::expect_close("sealed boundary vs parallel, step " + std::to_string(t), parallel.select(1, t), a, 1e-9);
  }
  EXPECT_EQ(sealed->agg_calls(), in_order->agg_calls());
  EXPECT_EQ(sealed->state_bytes(), in_order->state_bytes());
}

TEST(TransformerPsm, ParallelPathMakesOneAggCallPerTreeLevel) {
  auto m = make_psm({{"chunk_size", 2}, {"n_positions", 64}});
  torch::NoGradGuard no_grad;
  for (int64_t t = 1; t <= 64; ++t) {
    const int64_t before = m->agg_calls(), chunks = (t + 1) / 2;
    m->forward(at::randint(0, 37, {2, t}, at::kLong));
    EXPECT_EQ(m->agg_calls() - before, scan::blelloch_batched_calls(chunks, scan::ScanKind::Exclusive)) << "T = " << t;
  }
}

// prefill reads the stream's counter off the forward's own scan instead of inserting the prompt's
// chunks again: the counter's states are the ones a stream stepped through the prompt holds, to the
// bit (float64, CPU), and the prefill makes only the forward's Agg calls plus, for a prompt of whole
// chunks, the insert of its last chunk (which no later chunk of the prompt needed, so the scan left
// it out): at most half the calls of the forward followed by the counter.
TEST(TransformerPsm, PrefillReadsTheCounterOffTheForwardScanBitForBit) {
  auto m = make_psm({{"chunk_size", 2}, {"n_positions", 80}});
  torch::NoGradGuard no_grad;
  const int64_t c = 2;
  for (int64_t t = 1; t <= 70; ++t) {
    const at::Tensor tokens = at::randint(0, 37, {2, t}, at::kLong);
    auto stepped = m->start_stream(2);
    for (int64_t i = 0; i < t; ++i) stepped->step(tokens.select(1, i));
    int64_t before = m->agg_calls();
    const at::Tensor parallel = m->forward(tokens);
    const int64_t forward_calls = m->agg_calls() - before;
    before = m->agg_calls();
    auto [logits, prefilled] = m->prefill(tokens);
    const int64_t prefill_calls = m->agg_calls() - before;
    EXPECT_TRUE(at::equal(logits, parallel)) << "T = " << t;
    const auto a = stepped->save(), b = prefilled->save();
    int64_t compared = 0;
    for (const auto& [name, tensor] : a) {
      if (name.rfind("scanner.", 0) != 0) continue;
      ASSERT_TRUE(b.count(name)) << name << ", T = " << t;
      EXPECT_TRUE(at::equal(tensor, b.at(name))) << name << " differs, T = " << t;
      ++compared;
    }
    int64_t scanner_tensors = 0;
    for (const auto& kv : b) scanner_tensors += kv.first.rfind("scanner.", 0) == 0 ? 1 : 0;
    EXPECT_EQ(compared, scanner_tensors) << "T = " << t;
    EXPECT_GE(compared, 1 + (t >= c ? 1 : 0)) << "T = " << t;
    EXPECT_EQ(prefill_calls, forward_calls + prefilled->agg_calls()) << "T = " << t;
    if (t % c != 0) EXPECT_EQ(prefilled->agg_calls(), 0) << "T = " << t;
    if (t >= 32) EXPECT_LE(2 * prefill_calls, forward_calls + stepped->agg_calls()) << "T = " << t;
    // The streams continue alike.
    const at::Tensor next = at::randint(0, 37, {2}, at::kLong);
    testing::expect_close("step after prefill, T = " + std::to_string(t), stepped->step(next), prefilled->step(next),
                          1e-10);
  }
}

TEST(TransformerPsm, AggMaskOptionsAreDifferentFunctionsAndBothDual) {
  const at::Tensor tokens = at::randint(0, 37, {2, 13}, at::kLong);
  auto bi = make_psm({{"agg_mask", "bidirectional"}});
  auto causal = make_psm({{"agg_mask", "causal"}});
  load_weights(*causal, checkpoint_of(*bi), "same weights");
  torch::NoGradGuard no_grad;
  const at::Tensor a = bi->forward(tokens), b = causal->forward(tokens);
  // Chunks 0 and 1 never use Agg (prefixes e and x_0); chunk 2 on does.
  EXPECT_TRUE(at::allclose(a.slice(1, 0, 8), b.slice(1, 0, 8), 0, 1e-12));
  EXPECT_GT((a.slice(1, 8) - b.slice(1, 8)).abs().max().item<double>(), 1e-6);
  testing::expect_dual(*causal, tokens, 1e-10, "agg_mask causal");
}

TEST(TransformerPsm, ChunkLocalPositionsStreamPastNPositions) {
  auto m = make_psm({{"position_mode", "chunk_local"}, {"n_positions", 4}, {"chunk_size", 4}});
  testing::expect_dual(*m, at::randint(0, 37, {2, 23}, at::kLong), 1e-10, "chunk_local");
}

TEST(TransformerPsm, GlobalPositionsStopAtNPositionsWithAClearError) {
  auto m = make_psm({{"n_positions", 8}});
  torch::NoGradGuard no_grad;
  auto stream = m->start_stream(1);
  for (int i = 0; i < 8; ++i) stream->step(at::zeros({1}, at::kLong));
  try {
    stream->step(at::zeros({1}, at::kLong));
    ADD_FAILURE() << "position 8 accepted with n_positions 8";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("chunk_local"), std::string::npos) << e.what();
  }
  EXPECT_THROW(m->forward(at::zeros({1, 9}, at::kLong)), Error);
}

TEST(TransformerPsm, PartialLastChunkAndLargerBatchAreDualInFloat32) {
  auto m = make_psm({{"chunk_size", 3}}, at::kFloat);
  testing::expect_dual(*m, at::randint(0, 37, {3, 11}, at::kLong), 1e-4, "c=3 f32");
}

// checkpoint_agg recomputes each Agg level in the backward: the same logits and the same gradient for
// every parameter as without it, float64, in training mode with dropout on (the recompute replays the
// forward's random draws, and leaves the generator where the forward left it), over 7 chunks (three
// tree levels, each a batched Agg call) with a partial last chunk; and a stream still reproduces it.
TEST(TransformerPsm, CheckpointAggGivesTheSameLogitsAndGradients) {
  const at::Tensor tokens = at::randint(0, 37, {2, 27}, at::kLong);
  const nlohmann::json dropout{{"attn_pdrop", 0.1}, {"resid_pdrop", 0.1}, {"embd_pdrop", 0.1}};
  struct Run {
    at::Tensor logits, after;  // after: a draw from the generator once the backward is done
    std::vector<std::pair<std::string, at::Tensor>> grads;
  };
  auto run = [&](bool checkpoint) {
    nlohmann::json o = dropout;
    o["checkpoint_agg"] = checkpoint;
    auto m = make_psm(o);
    EXPECT_EQ(m->options().checkpoint_agg, checkpoint);
    m->train();
    at::manual_seed(11);
    Run r;
    r.logits = m->forward(tokens);
    const at::Tensor w = at::randn(r.logits.sizes(), r.logits.options());
    (r.logits * w).sum().backward();
    r.after = at::rand({4}, at::kDouble);
    for (const auto& p : m->named_parameters()) r.grads.emplace_back(p.key(), p.value().grad());
    return r;
  };
  const Run off = run(false), on = run(true);
  EXPECT_TRUE(on.logits.equal(off.logits)) << "logits differ";
  EXPECT_TRUE(on.after.equal(off.after)) << "the backward left the random state elsewhere";
  ASSERT_EQ(on.grads.size(), off.grads.size());
  for (size_t i = 0; i < on.grads.size(); ++i) {
    SCOPED_TRACE(on.grads[i].first);
    ASSERT_TRUE(on.grads[i].second.defined());
    EXPECT_GT(off.grads[i].second.abs().max().item<double>(), 0.0);
    testing::expect_close("gradient", off.grads[i].second, on.grads[i].second, 1e-12);
  }
  // The recompute replays the state the forward saw, not the generator's state at backward time.
  nlohmann::json o = dropout;
  o["checkpoint_agg"] = true;
  auto m = make_psm(o);
  m->train();
  at::manual_seed(11);
  const at::Tensor logits = m->forward(tokens);
  const at::Tensor w = at::randn(logits.sizes(), logits.options());
  at::manual_seed(12);
  (logits * w).sum().backward();
  size_t i = 0;
  for (const auto& p : m->named_parameters())
    testing::expect_close("gradient of " + p.key() + ", generator moved", off.grads[i++].second, p.value().grad(),
                          1e-12);
  // Evaluation: checkpointing is a training-memory option; the stream still reproduces forward.
  m->eval();
  testing::expect_dual(*m, tokens.slice(1, 0, 13), testing::duality_tolerance(at::kDouble), "checkpoint_agg");
}

TEST(TransformerPsm, ConfigErrorsNameTheKeyAndTheAllowedValues) {
  auto message = [](const nlohmann::json& config) {
    try {
      make_model(config);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  nlohmann::json c = find_model("transformer_psm").small_config();
  c["agg_mask"] = "sideways";
  EXPECT_NE(message(c).find("'agg_mask' is \"sideways\"; expected one of \"bidirectional\", \"causal\""),
            std::string::npos)
      << message(c);
  c = find_model("transformer_psm").small_config();
  c["chunk_sise"] = 4;
  EXPECT_NE(message(c).find("unknown key(s) 'chunk_sise'"), std::string::npos) << message(c);
  c = find_model("transformer_psm").small_config();
  c["chunk_size"] = 0;
  EXPECT_NE(message(c).find("'chunk_size' is 0; expected an integer from 1 to 65536"), std::string::npos) << message(c);
  c = find_model("transformer_psm").small_config();
  c["n_head"] = 3;
  EXPECT_NE(message(c).find("multiple of n_head"), std::string::npos) << message(c);
  c = find_model("transformer_psm").small_config();
  c["attn_pdrop"] = 1.5;
  EXPECT_NE(message(c).find("'attn_pdrop'"), std::string::npos) << message(c);
  c = find_model("transformer_psm").small_config();
  c["checkpoint_agg"] = "yes";
  EXPECT_NE(message(c).find("'checkpoint_agg'"), std::string::npos) << message(c);
  EXPECT_NE(message(c).find("true or false"), std::string::npos) << message(c);
}

TEST(TransformerPsm, WeightNamesFollowTheAggInfLayout) {
  auto m = make_psm({});
  auto params = m->named_parameters();
  for (const char* name :
       {"wte.weight", "wpe.weight", "agg.h.0.attn.c_attn.weight", "agg.h.1.mlp.c_proj.bias", "agg.ln_f.weight",
        "inf.h.0.ln_1.weight", "inf.h.1.mlp.c_fc.weight", "inf.ln_f.bias", "head.weight"})
    EXPECT_TRUE(params.contains(name)) << name;
  EXPECT_EQ(params["inf.h.0.attn.c_attn.weight"].sizes(), at::IntArrayRef({16, 48}));
  EXPECT_EQ(params["head.weight"].sizes(), at::IntArrayRef({37, 16}));
  // Spec §3.2's count: 2 V d (wte and the untied head) + P d + (L1 + L2)(12 d^2 + 13 d) + 4 d (two ln_f).
  int64_t n = 0;
  for (const auto& p : m->parameters()) n += p.numel();
  const int64_t d = 16, v = 37, pos = 32;
  EXPECT_EQ(n, 2 * v * d + pos * d + 4 * (12 * d * d + 13 * d) + 4 * d);
}

}  // namespace
}  // namespace scanlab::models
