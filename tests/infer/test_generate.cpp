// Streaming generation over every registered model: greedy tokens equal the argmax of the parallel
// logits on the same sequence, a saved stream resumes exactly, and Agg steps are reported.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "core/check.h"
#include "infer/generate.h"
#include "infer/generate_command.h"
#include "io/safetensors.h"
#include "models/checkpoint.h"
#include "models/registry.h"
#include "support/error_of.h"
#include "support/temp_dir.h"

namespace scanlab::infer {
namespace {

class Generation : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    at::manual_seed(3);
    model = models::make_model(models::find_model(GetParam()).small_config());
    model->to(at::kDouble);
    model->eval();
    prompt = at::randint(0, model->vocab_size(), {2, 5}, at::kLong);
  }
  std::shared_ptr<models::SequenceModel> model;
  at::Tensor prompt;
};

TEST_P(Generation, GreedyTokensAreTheArgmaxOfTheParallelLogits) {
  GenerateOptions opts;
  opts.max_new_tokens = 14;
  opts.sampling.temperature = 0;
  std::vector<int64_t> streamed;
  GenerateResult r = generate(*model, prompt, opts, [&](int64_t i, const at::Tensor& t) {
    EXPECT_EQ(i, static_cast<int64_t>(streamed.size()));
    streamed.push_back(t[0].item<int64_t>());
  });
  ASSERT_EQ(r.tokens.sizes(), at::IntArrayRef({2, 14}));
  ASSERT_EQ(r.steps.size(), 14u);
  at::Tensor full = at::cat({prompt, r.tokens}, 1);
  at::NoGradGuard no_grad;
  at::Tensor predicted = model->forward(full).argmax(-1);  // [B, T]
  // Position p predicts token p+1: the generated tokens are the argmax at positions 4 .. 17.
  EXPECT_TRUE(at::equal(predicted.slice(1, 4, 4 + 14), r.tokens)) << GetParam();
  for (int64_t i = 0; i < 14; ++i) EXPECT_EQ(streamed[i], r.tokens[0][i].item<int64_t>());
  EXPECT_TRUE(at::allclose(r.next_logits, model->forward(full).select(1, full.size(1) - 1), 1e-9, 1e-9));
  for (const auto& s : r.steps) EXPECT_GT(s.state_bytes, 0);
}

TEST_P(Generation, SavedStreamResumesWithTheSameTokens) {
  GenerateOptions opts;
  opts.max_new_tokens = 12;
  opts.sampling.temperature = 0;
  GenerateResult whole = generate(*model, prompt, opts, nullptr);
  opts.max_new_tokens = 5;
  GenerateResult first = generate(*model, prompt, opts, nullptr);
  auto bytes = io::encode_safetensors({save_generation_state(*first.stream, first.next_logits), {}});
  auto [stream, logits] = load_generation_state(*model, io::decode_safetensors(bytes, "memory").tensors);
  opts.max_new_tokens = 7;
  GenerateResult rest = generate_from_stream(*model, std::move(stream), logits, opts, nullptr);
  EXPECT_TRUE(at::equal(at::cat({first.tokens, rest.tokens}, 1), whole.tokens)) << GetParam();
}

// Every field of a saved stream is validated on restore: the position must be one int64 within the
// model's limit and 2^48 (mamba took -1, 2^62 and 16.5), and no floating tensor may hold NaN or Inf.
TEST_P(Generation, ARestoredStateRefusesBadPositionsAndNonFiniteValues) {
  GenerateOptions opts;
  opts.max_new_tokens = 3;
  GenerateResult r = generate(*model, prompt, opts, nullptr);
  const auto saved = save_generation_state(*r.stream, r.next_logits);
  auto with_position = [&](const at::Tensor& position) {
    auto t = saved;
    t["stream.position"] = position;
    return scanlab::testing::error_of([&] { load_generation_state(*model, t); });
  };
  for (int64_t bad : {int64_t{-1}, int64_t{1} << 62}) {
    const std::string err = with_position(at::full({1}, bad, at::kLong));
    EXPECT_NE(err.find("position " + std::to_string(bad) + " is outside [0, "), std::string::npos) << err;
  }
  std::string err = with_position(at::full({1}, 16.5, at::kDouble));
  EXPECT_NE(err.find("tensor 'position' is [1] Double; expected one int64"), std::string::npos) << err;
  for (const auto& [name, t] : saved) {
    if (!at::isFloatingType(t.scalar_type()) || t.numel() == 0) continue;
    auto broken = saved;
    broken[name] = t.clone();
    broken[name].view(-1)[0] = NAN;
    err = scanlab::testing::error_of([&] { load_generation_state(*model, broken); });
    EXPECT_NE(err.find("'" + name + "' holds NaN or Inf"), std::string::npos) << name << ": " << err;
  }
  EXPECT_EQ(scanlab::testing::error_of([&] { load_generation_state(*model, saved); }), "");
}

INSTANTIATE_TEST_SUITE_P(EveryModel, Generation, ::testing::ValuesIn(models::model_names()),
                         [](const auto& info) { return info.param; });

TEST(GenerationStats, TransformerPsmReportsItsChunkBoundarySteps) {
  at::manual_seed(1);
  auto cfg = models::find_model("transformer_psm").small_config();
  auto model = models::make_model(cfg);
  model->eval();
  const int64_t c = cfg.at("chunk_size").get<int64_t>();
  GenerateOptions opts;
  opts.max_new_tokens = 4 * c;
  opts.sampling.temperature = 0;
  GenerateResult r = generate(*model, at::zeros({1, 1}, at::kLong), opts, nullptr);
  int64_t agg_steps = 0;
  for (const auto& s : r.steps) agg_steps += s.aggregated ? 1 : 0;
  // The prompt token plus 4c generated ones pass 4 chunk boundaries; each runs Agg except the first.
  EXPECT_GE(agg_steps, 2);
  EXPECT_LE(agg_steps, 4);
}

// What a long stream keeps is bounded: no tokens without keep_tokens, and at most max_step_records
// step records, thinned to every step_stride-th step (their state bytes still those of that step).
TEST(GenerationStats, LongStreamsKeepBoundedRecords) {
  at::manual_seed(2);
  auto model = models::make_model(models::find_model("gla").small_config());
  model->eval();
  GenerateOptions opts;
  opts.max_new_tokens = 300;
  opts.keep_tokens = false;
  opts.max_step_records = 16;
  int64_t seen = 0;
  GenerateResult r = generate(*model, at::zeros({1, 1}, at::kLong), opts, [&](int64_t, const at::Tensor&) { ++seen; });
  EXPECT_EQ(seen, 300);
  EXPECT_FALSE(r.tokens.defined());
  EXPECT_LT(static_cast<int64_t>(r.steps.size()), 16);
  EXPECT_EQ(r.step_stride, 32);  // 16 records filled at strides 1, 2, 4, 8, 16 (steps 0..255), then 32
  EXPECT_EQ(static_cast<int64_t>(r.steps.size()), (300 + r.step_stride - 1) / r.step_stride);
  opts.keep_tokens = true;
  opts.max_step_records = int64_t{1} << 20;
  r = generate(*model, at::zeros({1, 1}, at::kLong), opts, nullptr);
  EXPECT_EQ(r.tokens.sizes(), at::IntArrayRef({1, 300}));
  EXPECT_EQ(r.steps.size(), 300u);
  EXPECT_EQ(r.step_stride, 1);
}

TEST(GenerateCommand, WritesTextAndStatsAndRejectsBadInput) {
  at::manual_seed(2);
  auto model = models::make_model(models::find_model("gpt2").small_config());
  const std::string ckpt = ::testing::TempDir() + "/gen_cmd_gpt2.safetensors";
  models::save_checkpoint(ckpt, *model);
  GenerateCommandOptions o;
  o.checkpoint = ckpt;
  o.prompt_tokens_file = ::testing::TempDir() + "/gen_cmd_prompt.txt";
  {
    std::ofstream f(o.prompt_tokens_file);
    f << "1 2 3\n";
  }
  o.generate.max_new_tokens = 6;
  o.generate.sampling.temperature = 0;
  o.stats = true;
  o.save_state = ::testing::TempDir() + "/gen_cmd_state.safetensors";
  std::ostringstream out, report;
  run_generate_command(o, at::kCPU, out, report);
  std::istringstream words(out.str());
  int64_t id, count = 0;
  while (words >> id) {
    EXPECT_GE(id, 0);
    EXPECT_LT(id, model->vocab_size());
    ++count;
  }
  EXPECT_EQ(count, 6);
  EXPECT_NE(report.str().find("p50"), std::string::npos) << report.str();
  // Resume the saved stream for 3 more tokens.
  GenerateCommandOptions again = o;
  again.prompt_tokens_file.clear();
  again.resume_state = o.save_state;
  again.save_state.clear();
  again.generate.max_new_tokens = 3;
  std::ostringstream out2, report2;
  run_generate_command(again, at::kCPU, out2, report2);
  EXPECT_FALSE(out2.str().empty());
  // bfloat16 weights: the same stream, token for token, as a model cast to bfloat16 by hand.
  GenerateCommandOptions bf16 = o;
  bf16.dtype = "bfloat16";
  bf16.save_state.clear();
  std::ostringstream out3, report3;
  run_generate_command(bf16, at::kCPU, out3, report3);
  auto cast = models::load_checkpoint(ckpt, at::kCPU);
  cast->to(at::kBFloat16);
  cast->eval();
  std::string expected;
  GenerateOptions g = o.generate;
  generate(*cast, at::tensor(std::vector<int64_t>{1, 2, 3}, at::kLong).unsqueeze(0), g,
           [&](int64_t, const at::Tensor& t) { expected += std::to_string(t[0].item<int64_t>()) + " "; });
  EXPECT_EQ(out3.str(), expected + "\n");
  bf16.dtype = "float16";
  EXPECT_THROW(run_generate_command(bf16, at::kCPU, out3, report3), Error);
  // A token outside the vocabulary is an error naming it.
  {
    std::ofstream f(o.prompt_tokens_file);
    f << "1 999999\n";
  }
  try {
    run_generate_command(o, at::kCPU, out, report);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("999999"), std::string::npos) << e.what();
  }
}

// A saved state is bound to the weights of the model file that saved it: another file of the same
// config (another seed) is refused naming both hashes, and the file's own model resumes it.
TEST(GenerationStateFile, AStateOfOtherWeightsIsRefusedNamingBothHashes) {
  const auto dir = scanlab::testing::fresh_temp_dir("state_binding");
  const std::string a = (dir / "a.safetensors").string(), b = (dir / "b.safetensors").string();
  const std::string state = (dir / "state.safetensors").string();
  for (const auto& [path, seed] : {std::pair{a, 1}, std::pair{b, 2}}) {
    at::manual_seed(seed);
    models::save_checkpoint(path, *models::make_model(models::find_model("gla").small_config()));
  }
  GenerateCommandOptions o;
  o.checkpoint = a;
  o.prompt_tokens_file = (dir / "prompt.txt").string();
  std::ofstream(o.prompt_tokens_file) << "1 2 3\n";
  o.generate.max_new_tokens = 2;
  o.save_state = state;
  std::ostringstream out, report;
  run_generate_command(o, at::kCPU, out, report);
  const std::string hash_a = models::read_model_file(a).weights_sha1, hash_b = models::read_model_file(b).weights_sha1;
  ASSERT_NE(hash_a, hash_b);
  o.save_state.clear();
  o.prompt_tokens_file.clear();
  o.resume_state = state;
  o.checkpoint = b;
  const std::string err = scanlab::testing::error_of([&] { run_generate_command(o, at::kCPU, out, report); });
  EXPECT_EQ(err, state + ": the state was saved by a model whose weights' SHA-1 is " + hash_a +
                     " but this model's is " + hash_b + "; expected the model file that saved it");
  o.checkpoint = a;
  EXPECT_EQ(scanlab::testing::error_of([&] { run_generate_command(o, at::kCPU, out, report); }), "");
  // A stream error of the file names it too.
  io::Safetensors st = io::load_safetensors(state);
  st.tensors["stream.position"] = at::full({1}, -1, at::kLong);
  io::save_safetensors(state, st);
  const std::string bad = scanlab::testing::error_of([&] { run_generate_command(o, at::kCPU, out, report); });
  EXPECT_EQ(bad.rfind(state + ": gla stream restore: position -1 is outside [0, ", 0), 0u) << bad;
  // A state whose recorded configuration is not the model's (an edited file) is refused too.
  st.tensors["stream.position"] = at::full({1}, 5, at::kLong);
  auto config = nlohmann::json::parse(st.metadata.at("scanlab.generation_of"));
  config["d_model"] = 64;
  st.metadata["scanlab.generation_of"] = config.dump();
  io::save_safetensors(state, st);
  const std::string edited = scanlab::testing::error_of([&] { run_generate_command(o, at::kCPU, out, report); });
  EXPECT_EQ(edited.rfind(state + ": the state records the model configuration {", 0), 0u) << edited;
  std::filesystem::remove_all(dir);
}

TEST(GenerationBounds, MaxNewTokensIsBounded) {
  auto model = models::make_model(models::find_model("gla").small_config());
  GenerateOptions opts;
  opts.max_new_tokens = 1000000000000;
  const std::string err = scanlab::testing::error_of([&] {
    generate(*model, at::zeros({1, 2}, at::kLong), opts, nullptr);
  });
  EXPECT_EQ(err, "--max-new-tokens 1000000000000: expected 1..1073741824 (2^30)");
}

}  // namespace
}  // namespace scanlab::infer
