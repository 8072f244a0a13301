// Sizes from a config alone (ModelEntry::parameters, models/model_size.h) and the check of a model
// file's config against its tensors before the model is built (check_config_against_tensors).
#include <gtest/gtest.h>

#include <cstdio>

#include "models/checkpoint.h"
#include "models/model_size.h"
#include "models/registry.h"
#include "support/error_of.h"
#include "support/temp_dir.h"

namespace scanlab::models {
namespace {

using scanlab::testing::error_of;

int64_t elements_of(const SequenceModel& m) {
  int64_t n = 0;
  for (const auto& p : m.named_parameters()) n += p.value().numel();
  for (const auto& b : m.named_buffers()) n += b.value().numel();
  return n;
}

class EveryModel : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryModel, ParametersFromTheConfigAloneEqualTheBuiltModels) {
  const ModelEntry& e = find_model(GetParam());
  // width 48, depth 3, heads from head_dim 16, d_state 5, chunk 8, vocab 41, window 6, 40 positions
  const ModelSize s{48, 3, 0, 16, 5, 8, 41, 6, 40};
  for (const nlohmann::json& c : {e.small_config(), e.sized_config(s)}) {
    auto m = make_model(c);
    EXPECT_EQ(e.parameters(c), static_cast<double>(elements_of(*m))) << c.dump();
    EXPECT_EQ(e.parameters(m->config()), static_cast<double>(elements_of(*m))) << "full config " << m->config().dump();
  }
}

// Every size key the tensors show: one more than the file holds, and 10^12, is refused before the
// model is built, naming the file, the key and the value the tensors imply.
TEST_P(EveryModel, ASizeKeyTheTensorsContradictIsRefusedNamingFileKeyAndValue) {
  const ModelEntry& e = find_model(GetParam());
  auto m = make_model(e.small_config());
  const ModelFile f = model_file_of(*m);
  ASSERT_FALSE(e.evidence.empty());
  for (const SizeEvidence& ev : e.evidence) {
    const int64_t held = f.config.at(ev.key).get<int64_t>();
    for (int64_t said : {held + 1, int64_t{1000000000000}}) {
      nlohmann::json c = f.config;
      c[ev.key] = said;
      const std::string err = error_of([&] { check_config_against_tensors(c, f.weights, "model.safetensors"); });
      EXPECT_EQ(err.rfind("model.safetensors: ", 0), 0u) << err;
      EXPECT_NE(err.find("the config's " + ev.key + " is " + std::to_string(said)), std::string::npos) << err;
      EXPECT_NE(err.find("expected " + ev.key + " = " + std::to_string(held)), std::string::npos) << err;
    }
  }
  EXPECT_EQ(error_of([&] { check_config_against_tensors(f.config, f.weights, "model.safetensors"); }), "");
}

INSTANTIATE_TEST_SUITE_P(Registry, EveryModel, ::testing::ValuesIn(model_names()),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

// A key the tensors do not show directly (Mamba's d_state, the SwiGLU width): a model far larger than
// the file is refused unbuilt; a config error names the file.
TEST(ConfigAgainstFile, KeysTheTensorsDoNotShowAreBoundedByTheFilesSize) {
  auto m = make_model(find_model("mamba").small_config());
  const ModelFile f = model_file_of(*m);
  nlohmann::json c = f.config;
  c["d_state"] = 1000000000;
  std::string err = error_of([&] { check_config_against_tensors(c, f.weights, "m.safetensors"); });
  EXPECT_EQ(err.rfind("m.safetensors: the mamba config describes ", 0), 0u) << err;
  EXPECT_NE(err.find("e+11 parameter elements but the file's"), std::string::npos) << err;
  c = f.config;
  c["mlp_hidden"] = 100000000;
  err = error_of([&] { check_config_against_tensors(c, f.weights, "m.safetensors"); });
  EXPECT_NE(err.find("config describes"), std::string::npos) << err;
  c = f.config;
  c["bogus"] = 1;
  err = error_of([&] { check_config_against_tensors(c, f.weights, "m.safetensors"); });
  EXPECT_EQ(err.rfind("m.safetensors: ", 0), 0u) << err;
  EXPECT_NE(err.find("bogus"), std::string::npos) << err;
}

// The whole path a user takes: a small file whose config claims 10^12 Inf layers is refused at once
// (it was built first, and killed for memory after 16-32 s).
TEST(ConfigAgainstFile, AFileClaimingATrillionLayersIsRefusedWhenLoaded) {
  const auto dir = scanlab::testing::fresh_temp_dir("config_vs_file");
  const std::string path = (dir / "huge.safetensors").string();
  auto m = make_model(find_model("transformer_psm").small_config());
  ModelFile f = model_file_of(*m);
  f.config["n_layer_inf"] = int64_t{1000000000000};
  write_model_file(path, f);
  const std::string err = error_of([&] { load_checkpoint(path); });
  EXPECT_EQ(err, path +
                     ": the config's n_layer_inf is 1000000000000 but the file holds 2 layers under 'inf.h.'; "
                     "expected n_layer_inf = 2");
  std::filesystem::remove_all(dir);
}

TEST(ModelSizeEstimate, TrainingCountsWeightsGradientsMomentsAndActivations) {
  const nlohmann::json c = find_model("gpt2").small_config();  // d 16, 2 layers, V 37
  const ModelSizeEstimate e = estimate_model_size(c);
  EXPECT_EQ(e.parameters, model_parameters(c));
  EXPECT_EQ(e.activation_floats, kActivationFloats * 16 * 2 + 3 * 37);
  // 2 sequences of 5 tokens; GPT-2's 2 heads keep 5 x 5 scores and probabilities in each of 2 layers
  EXPECT_EQ(training_bytes(c, 2, 5), 4.0 * (4.0 * e.parameters + 10 * e.activation_floats + 2 * 2 * (2 * 2 * 5 * 5)));
  EXPECT_EQ(weight_bytes(c, 2.0), 2.0 * e.parameters);
  nlohmann::json wide = c;
  wide["n_embd"] = 240000;
  wide["n_head"] = 1;
  EXPECT_GT(training_bytes(wide, 1, 1), 1e13);  // 12 x 240000^2 x 2 layers x 16 bytes
}

// checkpoint_agg keeps one Agg layer's activations live instead of all of them: the estimate drops
// the others (measured on an H100: the d 768, 6 + 6 T-PSM at one 65,536-token sequence fits in 80 GB
// only with it, 62 GB peak; docs/performance.md section 6).
TEST(ModelSizeEstimate, CheckpointAggCountsOneAggLayerOfActivations) {
  nlohmann::json psm = find_model("transformer_psm").small_config();
  psm["n_layer_agg"] = 3;
  psm["n_layer_inf"] = 2;
  nlohmann::json checkpointed = psm;
  checkpointed["checkpoint_agg"] = true;
  const ModelSizeEstimate off = estimate_model_size(psm), on = estimate_model_size(checkpointed);
  EXPECT_EQ(off.layers, 5);
  EXPECT_EQ(on.layers, 3);
  EXPECT_EQ(on.parameters, off.parameters);
  EXPECT_LT(training_bytes(checkpointed, 2, 64), training_bytes(psm, 2, 64));
  checkpointed["checkpoint_agg"] = false;
  EXPECT_EQ(estimate_model_size(checkpointed).layers, 5);
}

TEST(ModelSizeEstimate, AttentionScoresGrowWithTheSquareOfTheLengthOnlyForFullAttention) {
  const nlohmann::json gpt2 = find_model("gpt2").small_config();            // 2 heads
  const nlohmann::json psm = find_model("transformer_psm").small_config();  // 2 heads, chunk_size 4
  const nlohmann::json gla = find_model("gla").small_config();
  EXPECT_EQ(attention_floats(gpt2, 1000), 2.0 * 2 * 1000 * 1000);
  EXPECT_EQ(attention_floats(psm, 1000), 2.0 * 2 * 1000 * 8);  // a chunk and one prefix state
  EXPECT_EQ(attention_floats(gla, 1000), 0.0);
  // Inference holds one layer's scores, training every layer's.
  const double one_layer = 4.0 * attention_floats(gpt2, 4096);
  EXPECT_GE(inference_bytes(gpt2, 1, 4096), one_layer);
  EXPECT_LT(inference_bytes(gpt2, 1, 4096), 2 * one_layer);
  EXPECT_GE(training_bytes(gpt2, 1, 4096), 2 * one_layer);
}

}  // namespace
}  // namespace scanlab::models
