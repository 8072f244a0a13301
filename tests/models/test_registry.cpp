// The registry's sizing hook: every model takes a ModelSize, heads default to width / 64, --heads
// and the state size reach the model's own keys.
#include <gtest/gtest.h>

#include "core/check.h"
#include "models/registry.h"

namespace scanlab::models {
namespace {

TEST(ModelRegistrySizes, EveryModelBuildsAtTheAskedWidthAndDepth) {
  ModelSize s;
  s.width = 64;
  s.depth = 1;
  s.chunk = 4;
  s.vocab = 20;
  s.window = 8;
  s.max_positions = 32;
  for (const auto& name : model_names()) {
    const auto& e = find_model(name);
    ASSERT_TRUE(static_cast<bool>(e.sized_config)) << name;
    auto model = make_model(e.sized_config(s));
    EXPECT_EQ(model->kind(), name);
    EXPECT_EQ(model->vocab_size(), 20) << name;
    const auto c = model->config();
    const int64_t width = c.contains("d_model") ? c["d_model"].get<int64_t>() : c["n_embd"].get<int64_t>();
    EXPECT_EQ(width, 64) << name;
  }
}

TEST(ModelRegistrySizes, HeadsOf64AndStateSize16ByDefault) {
  ModelSize s;
  s.width = 768;
  s.depth = 1;
  EXPECT_EQ(find_model("gla").sized_config(s)["n_heads"], 12);
  EXPECT_EQ(find_model("gpt2").sized_config(s)["n_head"], 12);
  EXPECT_EQ(find_model("transformer_psm").sized_config(s)["n_head"], 12);
  EXPECT_EQ(find_model("mamba2").sized_config(s)["n_heads"], 24);  // inner width 2 x 768, P = 64
  EXPECT_EQ(find_model("mamba2").sized_config(s)["d_state"], 16);
  EXPECT_EQ(find_model("mamba").sized_config(s)["d_state"], 16);
  s.heads = 4;
  s.state_size = 8;
  EXPECT_EQ(find_model("gated_deltanet").sized_config(s)["n_heads"], 4);
  EXPECT_EQ(find_model("mamba").sized_config(s)["d_state"], 8);
  s.heads = 0;
  s.head_dim = 128;
  EXPECT_EQ(find_model("mlstm").sized_config(s)["n_heads"], 6);
  s.heads = 5;  // does not divide 768: the model says so when it is made
  EXPECT_THROW(make_model(find_model("gla").sized_config(s)), Error);
}

}  // namespace
}  // namespace scanlab::models
