// Checkpoints: HF GPT-2 names and layouts, the config in the metadata, float64 round trips, and
// every kind of bad file (truncated, no config, wrong shape, mixed dtypes) as a clear error.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>

#include "core/atomic_file.h"
#include "core/check.h"
#include "models/checkpoint.h"
#include "models/registry.h"
#include "support/error_of.h"
#include "tokenize/tokenizer.h"

namespace scanlab::models {
namespace {

std::string temp_path(const std::string& tag) {
  return ::testing::TempDir() + "ckpt_" + tag + "_" + std::to_string(getpid()) + ".safetensors";
}

using scanlab::testing::error_of;

TEST(Checkpoint, Gpt2UsesHuggingFaceNamesAndLayouts) {
  auto m = make_model(find_model("gpt2").small_config());  // d 16, 2 layers, V 37, P 32
  const io::Safetensors st = checkpoint_of(*m);
  const std::map<std::string, std::vector<int64_t>> expected = {{"wte.weight", {37, 16}},
                                                                {"wpe.weight", {32, 16}},
                                                                {"h.0.ln_1.weight", {16}},
                                                                {"h.0.attn.c_attn.weight", {16, 48}},
                                                                {"h.0.attn.c_attn.bias", {48}},
                                                                {"h.0.attn.c_proj.weight", {16, 16}},
                                                                {"h.1.ln_2.bias", {16}},
                                                                {"h.1.mlp.c_fc.weight", {16, 64}},
                                                                {"h.1.mlp.c_proj.weight", {64, 16}},
                                                                {"ln_f.weight", {16}}};
  for (const auto& [name, shape] : expected) {
    ASSERT_TRUE(st.tensors.count(name)) << name;
    EXPECT_EQ(st.tensors.at(name).sizes(), at::IntArrayRef(shape)) << name;
  }
  EXPECT_EQ(st.tensors.size(), 2u + 2 * 12 + 2);  // wte, wpe, 12 per block, ln_f (tied head)
  EXPECT_EQ(nlohmann::json::parse(st.metadata.at(kCheckpointConfigKey)), m->config());
}

TEST(Checkpoint, Float64RoundTripKeepsDtypeAndBits) {
  at::manual_seed(1);
  auto m = make_model(find_model("transformer_psm").small_config());
  m->to(at::kDouble);
  m->eval();
  const std::string path = temp_path("f64");
  save_checkpoint(path, *m);
  auto loaded = load_checkpoint(path);
  for (const auto& p : loaded->named_parameters()) {
    EXPECT_EQ(p.value().scalar_type(), at::kDouble) << p.key();
    EXPECT_TRUE(at::equal(p.value(), m->named_parameters()[p.key()])) << p.key();
  }
  std::remove(path.c_str());
}

TEST(Checkpoint, BadFilesAreClearErrors) {
  auto m = make_model(find_model("gpt2").small_config());
  const std::string path = temp_path("bad");
  save_checkpoint(path, *m);
  const std::string bytes = read_file(path);

  write_file_atomically(path, bytes.substr(0, bytes.size() / 2));
  EXPECT_NE(error_of([&] { load_checkpoint(path); }).find(path), std::string::npos);

  // Edited weights no longer match the file's content SHA-1, nor (without it, as an older writer
  // left the file) the weights' SHA-1.
  io::Safetensors st = checkpoint_of(*m);
  st.tensors["ln_f.bias"] = st.tensors["ln_f.bias"] + 1.0;
  io::save_safetensors(path, st);
  EXPECT_NE(error_of([&] { load_checkpoint(path); }).find("content SHA-1"), std::string::npos);
  st.metadata.erase("scanlab.content_sha1");
  io::save_safetensors(path, st);
  EXPECT_NE(error_of([&] { load_checkpoint(path); }).find("the weights' SHA-1"), std::string::npos);

  // The structural checks, on files without the hashes (as an older writer or another tool makes them).
  auto unhashed = [&] {
    io::Safetensors s = checkpoint_of(*m);
    s.metadata.erase("scanlab.weights_sha1");
    s.metadata.erase("scanlab.content_sha1");
    return s;
  };
  st = unhashed();
  st.metadata.erase(kCheckpointConfigKey);
  io::save_safetensors(path, st);
  EXPECT_NE(error_of([&] { load_checkpoint(path); }).find("scanlab.config"), std::string::npos);

  st = unhashed();
  st.metadata[kCheckpointConfigKey] = "{not json";
  io::save_safetensors(path, st);
  EXPECT_NE(error_of([&] { load_checkpoint(path); }).find("not JSON"), std::string::npos);

  st = unhashed();
  st.tensors["h.0.attn.c_attn.weight"] = st.tensors["h.0.attn.c_attn.weight"].t().contiguous();  // [out, in]
  io::save_safetensors(path, st);
  const std::string shape_err = error_of([&] { load_checkpoint(path); });
  EXPECT_NE(shape_err.find("'h.0.attn.c_attn.weight' has shape [48, 16]"), std::string::npos) << shape_err;

  st = unhashed();
  st.tensors["ln_f.bias"] = st.tensors["ln_f.bias"].to(at::kDouble);
  io::save_safetensors(path, st);
  EXPECT_NE(error_of([&] { load_checkpoint(path); }).find("one dtype"), std::string::npos);

  st = unhashed();
  st.tensors.erase("wpe.weight");
  io::save_safetensors(path, st);
  EXPECT_NE(error_of([&] { load_checkpoint(path); }).find("missing: 'wpe.weight'"), std::string::npos);

  // Non-finite weights, with or without a hash that matches them (a diverged run saves a valid hash).
  for (double bad : {NAN, INFINITY}) {
    st = unhashed();
    st.tensors["ln_f.weight"][3] = bad;
    io::save_safetensors(path, st);
    EXPECT_NE(error_of([&] { load_checkpoint(path); }).find("weight 'ln_f.weight' holds NaN or Inf"),
              std::string::npos);
  }
  m->named_parameters()["ln_f.weight"].data()[0] = NAN;
  save_checkpoint(path, *m);
  EXPECT_NE(error_of([&] { load_checkpoint(path); }).find("holds NaN or Inf"), std::string::npos);
  std::remove(path.c_str());
}

// A config or tokenizer edited so that it still parses and still fits the weights (one digit of the
// T-PSM's chunk size, the tokenizer's kind) would change what the model computes without a word: the
// content hash covers the metadata, so the file is refused naming the hash; stripped of the hash it loads.
TEST(Checkpoint, EditedMetadataThatStillParsesIsRefusedByTheContentHash) {
  auto m = make_model(find_model("transformer_psm").small_config());
  const std::string path = temp_path("meta_flip");
  const io::Safetensors good = checkpoint_of(*m);
  ASSERT_TRUE(good.metadata.count("scanlab.content_sha1"));
  save_checkpoint(path, *m);
  EXPECT_NO_THROW(load_checkpoint(path));

  nlohmann::json config = nlohmann::json::parse(good.metadata.at(kCheckpointConfigKey));
  config["chunk_size"] = config["chunk_size"].get<int64_t>() + 1;
  io::Safetensors st = good;
  st.metadata[kCheckpointConfigKey] = config.dump();
  io::save_safetensors(path, st);
  const std::string err = error_of([&] { load_checkpoint(path); });
  EXPECT_NE(err.find(path + ": the file's content SHA-1 is "), std::string::npos) << err;
  EXPECT_NE(err.find("corrupt or was edited"), std::string::npos) << err;
  st.metadata.erase("scanlab.content_sha1");
  io::save_safetensors(path, st);
  EXPECT_EQ(load_checkpoint(path)->config()["chunk_size"], config["chunk_size"]);

  st = good;
  st.metadata["scanlab.tokenizer"] = tokenize::describe_tokenizer("byte").dump() + " ";
  io::save_safetensors(path, st);
  EXPECT_NE(error_of([&] { load_checkpoint(path); }).find("content SHA-1"), std::string::npos);

  // An added metadata entry counts too; the weights' SHA-1 (what stream states are bound to) does not move.
  st = good;
  st.metadata["note"] = "hello";
  io::save_safetensors(path, st);
  EXPECT_NE(error_of([&] { load_checkpoint(path); }).find("content SHA-1"), std::string::npos);
  ModelFile f = model_file_of(*m);
  f.train_metadata["progress"] = "{}";
  EXPECT_EQ(to_safetensors(f).metadata.at("scanlab.weights_sha1"), good.metadata.at("scanlab.weights_sha1"));
  EXPECT_NE(to_safetensors(f).metadata.at("scanlab.content_sha1"), good.metadata.at("scanlab.content_sha1"));
  std::remove(path.c_str());
}

TEST(Checkpoint, InitModelAppliesPresetAndOverrides) {
  InitModelOptions o;
  o.model = "transformer_psm";
  o.preset = "small";
  o.overrides = {"chunk_size=8", "position_mode=chunk_local", "agg_mask=causal"};
  const nlohmann::json c = init_model_config(o);
  EXPECT_EQ(c["chunk_size"], 8);
  EXPECT_EQ(c["position_mode"], "chunk_local");
  EXPECT_EQ(c["n_embd"], 16);
  o.overrides = {"chunk_size"};
  EXPECT_NE(error_of([&] { init_model_config(o); }).find("key=value"), std::string::npos);
  o.overrides = {"chunk_size=2"};
  o.dtype = "float64";
  o.out = temp_path("init");
  init_model(o);
  auto loaded = load_checkpoint(o.out);
  EXPECT_EQ(loaded->config()["chunk_size"], 2);
  EXPECT_EQ(loaded->parameters().front().scalar_type(), at::kDouble);
  std::remove(o.out.c_str());
}

// One model file: its metadata (config, tokenizer, version, weights hash); a training checkpoint (the
// same file plus sections) reads as the model; export drops the sections and keeps the weights; the
// earlier training layout (weights under "model/") still reads.
TEST(ModelFile, TrainingSectionsRideAlongAndExportDropsThem) {
  at::manual_seed(3);
  auto m = make_model(find_model("gla").small_config());
  m->eval();
  ModelFile f = model_file_of(*m);
  EXPECT_EQ(f.tokenizer["kind"], m->vocab_size() >= 256 ? "byte" : "none");
  f.sections["adam"]["step"] = at::ones({1});
  f.train_metadata["progress"] = "{}";
  const std::string ckpt = temp_path("train"), out = temp_path("export");
  write_model_file(ckpt, f);
  const io::Safetensors raw = io::load_safetensors(ckpt);
  for (const char* key :
       {"scanlab.config", "scanlab.tokenizer", "scanlab.version", "scanlab.weights_sha1", "scanlab.content_sha1"})
    EXPECT_TRUE(raw.metadata.count(key)) << key;
  EXPECT_TRUE(raw.tensors.count("adam/step"));
  const auto tokens = at::randint(0, m->vocab_size(), {2, 9}, at::kLong);
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(at::equal(load_checkpoint(ckpt)->forward(tokens), m->forward(tokens)));
  export_model(ckpt, out);
  const ModelFile exported = read_model_file(out);
  EXPECT_TRUE(exported.sections.empty());
  EXPECT_FALSE(exported.is_training_checkpoint());
  EXPECT_EQ(exported.weights.size(), f.weights.size());
  EXPECT_EQ(io::load_safetensors(out).metadata.at("scanlab.weights_sha1"), raw.metadata.at("scanlab.weights_sha1"));
  EXPECT_TRUE(at::equal(load_checkpoint(out)->forward(tokens), m->forward(tokens)));

  io::Safetensors legacy;
  for (const auto& [k, v] : f.weights) legacy.tensors["model/" + k] = v;
  legacy.tensors["adam/step"] = at::ones({1});
  legacy.metadata = {{"model_config", m->config().dump()}, {"progress", "{}"}, {"config", "{}"}};
  io::save_safetensors(ckpt, legacy);
  EXPECT_TRUE(at::equal(load_checkpoint(ckpt)->forward(tokens), m->forward(tokens)));
  for (const auto& p : {ckpt, out}) std::remove(p.c_str());
}

TEST(ModelFile, TokenizerIsCheckedAgainstTheModel) {
  InitModelOptions o;
  o.model = "gpt2";
  o.preset = "small";  // vocabulary 37: no room for bytes
  o.out = temp_path("tok");
  init_model(o);
  EXPECT_EQ(read_model_file(o.out).tokenizer["kind"], "none");
  EXPECT_NE(
      error_of([&] { text_tokenizer(read_model_file(o.out), "", "generate --prompt"); }).find("no text tokenizer"),
      std::string::npos);
  o.tokenizer = "byte";
  EXPECT_NE(error_of([&] { init_model(o); }).find("vocab_size >= 256"), std::string::npos);
  o.overrides = {"vocab_size=256"};
  init_model(o);
  EXPECT_EQ(text_tokenizer(read_model_file(o.out), "", "score --text")->encode("ab"), (std::vector<int64_t>{97, 98}));
  o.overrides = {"vocab_size=50257"};
  o.tokenizer = "gpt2";
  o.bpe_dir = ::testing::TempDir() + "/no_such_bpe_dir";
  EXPECT_NE(error_of([&] { init_model(o); }).find("encoder.json"), std::string::npos);
  std::remove(o.out.c_str());
}

}  // namespace
}  // namespace scanlab::models
