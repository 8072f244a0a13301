// The affine family (linear attention, RetNet, Mamba2, GLA, mLSTM, Mamba, Gated DeltaNet) through the
// SequenceModel interface: forward (chunked) == prefill (chunked) + stream steps for every prompt
// length 1..3c+1 in float64 and float32, constant state size, save/restore, gradients, config JSON.
#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>

#include <set>
#include <string>

#include "core/check.h"
#include "models/registry.h"
#include "support/expect_close.h"

namespace scanlab::models {
namespace {

using scanlab::testing::expect_close;

const std::vector<std::string> kAffineModels = {"gated_deltanet", "gla",   "linear_attention", "mamba", "mamba2",
                                                "mlstm",          "retnet"};

class AffineModel : public ::testing::TestWithParam<std::string> {
 protected:
  std::shared_ptr<SequenceModel> make(at::ScalarType dtype) {
    torch::manual_seed(7);
    auto model = make_model(find_model(GetParam()).small_config());
    model->to(dtype);
    model->eval();  // dropout off: the parallel and streaming paths must agree exactly
    return model;
  }
  at::Tensor tokens(int64_t B, int64_t T, int64_t vocab) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
    return at::randint(vocab, {B, T}, gen, at::kLong);
  }
  int64_t chunk() const { return find_model(GetParam()).small_config()["chunk_len"].get<int64_t>(); }
};

// Every prompt length P = 1..3c+1: prefill P tokens, then step to the end; all logits equal forward.
void check_duality(const std::shared_ptr<SequenceModel>& model, const at::Tensor& toks, double tol) {
  const int64_t T = toks.size(1);
  at::Tensor full = model->forward(toks).detach();
  for (int64_t P = 1; P <= T; ++P) {
    SCOPED_TRACE("prompt length " + std::to_string(P));
    auto [logits, stream] = model->prefill(toks.narrow(1, 0, P));
    expect_close("prefill logits", full.narrow(1, 0, P), logits, tol);
    EXPECT_EQ(stream->position(), P);
    for (int64_t t = P; t < T; ++t)
      expect_close("step logits t=" + std::to_string(t), full.select(1, t), stream->step(toks.select(1, t)), tol);
  }
}

TEST_P(AffineModel, ForwardEqualsPrefillPlusStepsFloat64) {
  auto model = make(at::kDouble);
  check_duality(model, tokens(2, 3 * chunk() + 1, model->vocab_size()), 1e-10);
}

TEST_P(AffineModel, ForwardEqualsPrefillPlusStepsFloat32) {
  auto model = make(at::kFloat);
  check_duality(model, tokens(3, 3 * chunk() + 1, model->vocab_size()), 1e-4);
}

TEST_P(AffineModel, StateBytesConstantAndSaveRestoreResumesExactly) {
  auto model = make(at::kDouble);
  auto toks = tokens(2, 2 * chunk() + 3, model->vocab_size());
  auto fresh = model->start_stream(2);
  const int64_t bytes = fresh->state_bytes();
  EXPECT_GT(bytes, 0);
  auto [logits, stream] = model->prefill(toks.narrow(1, 0, chunk() + 1));
  EXPECT_EQ(stream->state_bytes(), bytes);
  auto saved = stream->save();
  std::vector<at::Tensor> expected;
  for (int64_t t = chunk() + 1; t < toks.size(1); ++t) {
    expected.push_back(stream->step(toks.select(1, t)));
    EXPECT_EQ(stream->state_bytes(), bytes) << "after position " << stream->position();
  }
  fresh->restore(saved);
  EXPECT_EQ(fresh->position(), chunk() + 1);
  for (size_t i = 0; i < expected.size(); ++i)
    expect_close("restored step " + std::to_string(i), expected[i],
                 fresh->step(toks.select(1, chunk() + 1 + static_cast<int64_t>(i))), 0.0);
  auto missing = saved;
  missing.erase(std::prev(missing.end()));
  EXPECT_THROW(fresh->restore(missing), scanlab::Error);
  auto reshaped = saved;
  auto& victim = reshaped.begin()->first == "position" ? std::next(reshaped.begin())->second : reshaped.begin()->second;
  victim = victim.narrow(0, 0, 1);
  EXPECT_THROW(fresh->restore(reshaped), scanlab::Error);
}

TEST_P(AffineModel, GradientsFiniteAndNonZero) {
  auto model = make(at::kFloat);
  auto toks = tokens(2, 2 * chunk() + 5, model->vocab_size());
  auto logits = model->forward(toks);
  auto loss = at::cross_entropy_loss(logits.narrow(1, 0, toks.size(1) - 1).reshape({-1, model->vocab_size()}),
                                     toks.narrow(1, 1, toks.size(1) - 1).reshape({-1}));
  loss.backward();
  for (const auto& p : model->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key() << " has no gradient";
    EXPECT_TRUE(p.value().grad().isfinite().all().item<bool>()) << p.key();
    EXPECT_GT(p.value().grad().abs().max().item<double>(), 0.0) << p.key() << " has an all-zero gradient";
  }
}

TEST_P(AffineModel, ConfigRoundTripsAndUnknownKeysAreNamed) {
  auto model = make(at::kFloat);
  auto config = model->config();
  EXPECT_EQ(config["model"], GetParam());
  auto rebuilt = make_model(config);
  EXPECT_EQ(rebuilt->config(), config);
  std::set<std::string> names, rebuilt_names;
  for (const auto& p : model->named_parameters()) names.insert(p.key());
  for (const auto& p : rebuilt->named_parameters()) rebuilt_names.insert(p.key());
  EXPECT_EQ(names, rebuilt_names);
  for (const char* n :
       {"embed.weight", "layers.0.mixer_norm.weight", "layers.1.mlp.down_proj.weight", "norm.weight", "head.weight"})
    EXPECT_TRUE(names.count(n)) << n;
  auto bad = config;
  bad["no_such_option"] = 1;
  try {
    make_model(bad);
    FAIL() << "unknown key accepted";
  } catch (const scanlab::Error& e) {
    EXPECT_NE(std::string(e.what()).find("no_such_option"), std::string::npos) << e.what();
  }
  auto wrong_type = config;
  wrong_type["d_model"] = "wide";
  EXPECT_THROW(make_model(wrong_type), scanlab::Error);
}

TEST_P(AffineModel, BadTokensAreErrors) {
  auto model = make(at::kFloat);
  EXPECT_THROW(model->forward(at::full({1, 3}, model->vocab_size(), at::kLong)), scanlab::Error);
  EXPECT_THROW(model->forward(at::zeros({3}, at::kLong)), scanlab::Error);
  auto stream = model->start_stream(2);
  EXPECT_THROW(stream->step(at::zeros({3}, at::kLong)), scanlab::Error);
}

INSTANTIATE_TEST_SUITE_P(AffineFamily, AffineModel, ::testing::ValuesIn(kAffineModels),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace scanlab::models
