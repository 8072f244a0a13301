// The shared duality test: every registered model, no skip list. For each model's small_config,
// random init widened so every path matters (see widen_weights), eval mode (dropout off),
// float64 and float32:
//   - forward == stream (prefill + step x n) for T = 1..13 (3C+1 for the small T-PSM, C = 4), B = 2;
//   - gradients reach every parameter, finite and not all zero;
//   - stream save -> (safetensors bytes) -> restore continues with identical logits;
//   - checkpoint save -> load gives identical logits; corrupt checkpoints are rejected.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>

#include "core/check.h"
#include "io/safetensors.h"
#include "models/checkpoint.h"
#include "models/registry.h"
#include "support/model_checks.h"

namespace scanlab::models {
namespace {

constexpr int64_t kBatch = 2, kTokens = 13;

class ModelDuality : public testing::EveryModel {
 protected:
  void SetUp() override {
    make(17);
    tokens = at::randint(0, model->vocab_size(), {kBatch, kTokens}, at::kLong);
  }
  std::string temp_path(const std::string& tag) const {
    return ::testing::TempDir() + "duality_" + name() + "_" + tag + "_" + std::to_string(getpid()) + ".safetensors";
  }

  at::Tensor tokens;
};

TEST_P(ModelDuality, ForwardEqualsPrefillPlusSteps) {
  testing::expect_dual(*model, tokens, testing::duality_tolerance(dtype()), name());
}

TEST_P(ModelDuality, LogitsHaveTheDocumentedShapeAndDtype) {
  torch::NoGradGuard no_grad;
  const at::Tensor logits = model->forward(tokens);
  EXPECT_EQ(logits.sizes(), at::IntArrayRef({kBatch, kTokens, model->vocab_size()}));
  EXPECT_EQ(logits.scalar_type(), dtype());
  EXPECT_TRUE(logits.isfinite().all().item<bool>());
}

// Every parameter gets a finite gradient that is not all zero. Legitimate zeros inside a tensor:
// wpe rows of positions the input never reaches, wte rows of absent tokens (untied head), and the
// key slice of each c_attn bias (softmax ignores a shift shared by all keys); so whole tensors are
// checked, and wpe row by row over the positions every model uses (0..3).
TEST_P(ModelDuality, GradientsReachEveryParameter) {
  const at::Tensor logits = model->forward(tokens);
  (logits * at::randn_like(logits)).sum().backward();
  for (const auto& p : model->named_parameters()) {
    SCOPED_TRACE(name() + " parameter " + p.key());
    const at::Tensor& g = p.value().grad();
    ASSERT_TRUE(g.defined()) << "no gradient";
    EXPECT_TRUE(g.isfinite().all().item<bool>()) << "non-finite gradient";
    EXPECT_GT(g.abs().sum().item<double>(), 0.0) << "gradient is all zero";
    if (p.key() == "wpe.weight")
      EXPECT_TRUE(g.slice(0, 0, 4).abs().sum(1).gt(0).all().item<bool>()) << "a used position row got no gradient";
  }
}

// The small configs keep the default dropouts (0.1): training mode draws masks, eval mode does not.
TEST_P(ModelDuality, DropoutActsOnlyInTraining) {
  torch::NoGradGuard no_grad;
  const at::Tensor eval_logits = model->forward(tokens);
  model->train();
  EXPECT_FALSE(at::allclose(model->forward(tokens), model->forward(tokens))) << "training mode is deterministic";
  model->eval();
  // Equal up to rounding, not bit for bit: BLAS may take another code path for a differently
  // aligned buffer (seen with MKL under LibTorch 2.11). A dropout mask would move logits by O(1).
  testing::expect_close(name() + " eval after train", eval_logits, model->forward(tokens),
                        testing::duality_tolerance(dtype()));
}

TEST_P(ModelDuality, StreamSaveRestoreContinuesIdentically) {
  torch::NoGradGuard no_grad;
  for (int64_t cut : {0, 3, 4, 6, 9}) {
    SCOPED_TRACE("saved after " + std::to_string(cut) + " tokens");
    auto stream = model->start_stream(kBatch);
    for (int64_t t = 0; t < cut; ++t) stream->step(tokens.select(1, t));
    // Through the file format, as a server persisting a stream would.
    io::Safetensors st;
    st.tensors = stream->save();
    const auto reloaded = io::decode_safetensors(io::encode_safetensors(st), "stream state");
    auto resumed = model->start_stream(kBatch);
    resumed->restore(reloaded.tensors);
    EXPECT_EQ(resumed->position(), cut);
    EXPECT_EQ(resumed->state_bytes(), stream->state_bytes());
    for (int64_t t = cut; t < cut + 4; ++t) {
      const at::Tensor a = stream->step(tokens.select(1, t)), b = resumed->step(tokens.select(1, t));
      EXPECT_TRUE(at::equal(a, b)) << "logits differ at position " << t;
    }
    // Tampered states are rejected with an error, not misread.
    auto extra = reloaded.tensors;
    extra["bogus"] = at::zeros({1});
    EXPECT_THROW(model->start_stream(kBatch)->restore(extra), Error);
    auto missing = reloaded.tensors;
    missing.erase("position");
    EXPECT_THROW(model->start_stream(kBatch)->restore(missing), Error);
    if (cut > 0)
      EXPECT_THROW(model->start_stream(kBatch + 1)->restore(reloaded.tensors), Error) << "batch mismatch accepted";
  }
}

TEST_P(ModelDuality, CheckpointRoundTripGivesIdenticalLogits) {
  torch::NoGradGuard no_grad;
  const std::string path = temp_path("ckpt");
  save_checkpoint(path, *model);
  auto loaded = load_checkpoint(path);
  EXPECT_EQ(loaded->kind(), name());
  EXPECT_EQ(loaded->config(), model->config());
  EXPECT_TRUE(at::equal(loaded->forward(tokens), model->forward(tokens)));
  // A truncated file and a file with a weight renamed are clear errors.
  std::string bytes = io::encode_safetensors(checkpoint_of(*model));
  EXPECT_THROW(io::decode_safetensors(bytes.substr(0, bytes.size() - 5), "truncated"), Error);
  auto renamed = checkpoint_of(*model);
  auto node = renamed.tensors.extract(renamed.tensors.begin());
  node.key() = "renamed." + node.key();
  renamed.tensors.insert(std::move(node));
  try {
    load_weights(*make_model(model->config()), renamed, "renamed.safetensors");
    ADD_FAILURE() << "a renamed weight was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("unexpected: 'renamed."), std::string::npos) << e.what();
  }
  std::remove(path.c_str());
}

INSTANTIATE_TEST_SUITE_P(EveryRegisteredModel, ModelDuality, testing::every_model_and_dtype(),
                         testing::model_and_dtype_name);

TEST(ModelRegistry, HasTheTransformerFamily) {
  for (const char* name : {"gpt2", "sliding_window", "transformer_psm"}) {
    const auto& e = find_model(name);
    EXPECT_EQ(make_model(e.small_config())->kind(), name);
  }
  EXPECT_THROW(find_model("gpt3"), Error);
}

}  // namespace
}  // namespace scanlab::models
