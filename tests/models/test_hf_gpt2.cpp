// Hugging Face GPT-2 interop: a small checkpoint written here in HF's exact layout (transformer.
// prefix, attn.bias / attn.masked_bias buffers, tied or separate lm_head, config.json) imports into
// a scanlab model whose logits equal a float64 numpy forward of the same file written independently
// in Python; export in HF's layout imports back to the same logits; configurations scanlab's blocks
// do not compute are errors naming the field.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>

#include "core/atomic_file.h"
#include "core/check.h"
#include "models/hf_gpt2.h"
#include "models/registry.h"
#include "models/warm_start.h"
#include "support/error_of.h"
#include "support/nar_test_util.h"

namespace scanlab::models {
namespace {

namespace fs = std::filesystem;
using nar::testing::python_numpy_available;
using nar::testing::run_python;

constexpr int64_t kVocab = 37, kPositions = 16, kEmbd = 12, kHeads = 3, kLayers = 2;

std::string temp_dir(const std::string& tag) {
  const std::string d = ::testing::TempDir() + "hf_" + tag + "_" + std::to_string(getpid());
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

nlohmann::json hf_config(bool tied) {
  return {{"model_type", "gpt2"},       {"vocab_size", kVocab},
          {"n_positions", kPositions},  {"n_embd", kEmbd},
          {"n_head", kHeads},           {"n_layer", kLayers},
          {"layer_norm_epsilon", 1e-5}, {"activation_function", "gelu_new"},
          {"tie_word_embeddings", tied}};
}

// A float64 GPT-2 in HF's names and layouts with random weights (LayerNorm weights away from 1).
void write_hf_checkpoint(const std::string& dir, bool tied, bool prefix) {
  at::manual_seed(tied ? 11 : 12);
  const auto opts = at::TensorOptions().dtype(at::kDouble);
  io::Safetensors st;
  const std::string p = prefix ? "transformer." : "";
  auto add = [&](const std::string& name, std::vector<int64_t> shape, double scale) {
    st.tensors[p + name] = at::randn(shape, opts) * scale;
  };
  add("wte.weight", {kVocab, kEmbd}, 0.3);
  add("wpe.weight", {kPositions, kEmbd}, 0.3);
  for (int64_t l = 0; l < kLayers; ++l) {
    const std::string h = "h." + std::to_string(l) + ".";
    for (const char* ln : {"ln_1", "ln_2"}) {
      st.tensors[p + h + ln + ".weight"] = 1.0 + 0.2 * at::randn({kEmbd}, opts);
      add(h + ln + ".bias", {kEmbd}, 0.1);
    }
    add(h + "attn.c_attn.weight", {kEmbd, 3 * kEmbd}, 0.3);
    add(h + "attn.c_attn.bias", {3 * kEmbd}, 0.1);
    add(h + "attn.c_proj.weight", {kEmbd, kEmbd}, 0.3);
    add(h + "attn.c_proj.bias", {kEmbd}, 0.1);
    add(h + "mlp.c_fc.weight", {kEmbd, 4 * kEmbd}, 0.3);
    add(h + "mlp.c_fc.bias", {4 * kEmbd}, 0.1);
    add(h + "mlp.c_proj.weight", {4 * kEmbd, kEmbd}, 0.3);
    add(h + "mlp.c_proj.bias", {kEmbd}, 0.1);
    st.tensors[p + h + "attn.bias"] = at::ones({1, 1, kPositions, kPositions}, opts).tril();  // HF's mask buffers
    st.tensors[p + h + "attn.masked_bias"] = at::full({}, -1e4, opts);
  }
  st.tensors[p + "ln_f.weight"] = 1.0 + 0.2 * at::randn({kEmbd}, opts);
  add("ln_f.bias", {kEmbd}, 0.1);
  st.tensors["lm_head.weight"] =
      tied ? st.tensors.at(p + "wte.weight").clone() : at::randn({kVocab, kEmbd}, opts) * 0.3;
  io::save_safetensors(dir + "/model.safetensors", st);
  write_file_atomically(dir + "/config.json", hf_config(tied).dump());
}

// The reference: GPT-2's forward in float64 numpy, read straight from the HF file (not scanlab's code).
constexpr const char* kNumpyForward = R"(
import json, struct, sys
import numpy as np
d, tokens = sys.argv[1], [int(t) for t in sys.argv[2].split(',')]
raw = open(d + '/model.safetensors', 'rb').read()
n = struct.unpack('<Q', raw[:8])[0]
head = json.loads(raw[8:8 + n]); head.pop('__metadata__', None)
W = {}
for k, h in head.items():
    b, e = h['data_offsets']
    W[k.replace('transformer.', '', 1)] = np.frombuffer(raw[8 + n + b:8 + n + e], np.float64).reshape(h['shape'])
cfg = json.load(open(d + '/config.json'))
H, L = cfg['n_head'], cfg['n_layer']
def ln(x, p): m = x.mean(-1, keepdims=True); v = ((x - m) ** 2).mean(-1, keepdims=True); return (x - m) / np.sqrt(v + 1e-5) * W[p + '.weight'] + W[p + '.bias']
def gelu(x): return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
T = len(tokens); x = W['wte.weight'][tokens] + W['wpe.weight'][:T]; D = x.shape[-1]; hd = D // H
mask = np.tril(np.ones((T, T), bool))
for l in range(L):
    p = 'h.%d.' % l
    q, k, v = np.split(ln(x, p + 'ln_1') @ W[p + 'attn.c_attn.weight'] + W[p + 'attn.c_attn.bias'], 3, -1)
    heads = []
    for i in range(H):
        s = q[:, i*hd:(i+1)*hd] @ k[:, i*hd:(i+1)*hd].T / np.sqrt(hd)
        s = np.where(mask, s, -np.inf); s = np.exp(s - s.max(-1, keepdims=True)); s /= s.sum(-1, keepdims=True)
        heads.append(s @ v[:, i*hd:(i+1)*hd])
    x = x + np.concatenate(heads, -1) @ W[p + 'attn.c_proj.weight'] + W[p + 'attn.c_proj.bias']
    x = x + gelu(ln(x, p + 'ln_2') @ W[p + 'mlp.c_fc.weight'] + W[p + 'mlp.c_fc.bias']) @ W[p + 'mlp.c_proj.weight'] + W[p + 'mlp.c_proj.bias']
head_w = W['wte.weight'] if cfg['tie_word_embeddings'] else W['lm_head.weight']
print(' '.join('%.17g' % z for z in (ln(x, 'ln_f') @ head_w.T).ravel()))
)";

at::Tensor numpy_logits(const std::string& dir, const std::vector<int64_t>& tokens) {
  std::string list;
  for (size_t i = 0; i < tokens.size(); ++i) list += (i ? "," : "") + std::to_string(tokens[i]);
  const std::string script_path = dir + "/forward.py";
  write_file_atomically(script_path, kNumpyForward);
  int status = 0;
  const std::string out = run_python("import runpy, sys\nsys.argv = ['f', '" + dir + "', '" + list +
                                         "']\nrunpy.run_path('" + script_path + "', run_name='__main__')\n",
                                     &status);
  EXPECT_EQ(status, 0) << out;
  std::vector<double> v;
  std::istringstream in(out);
  for (double z; in >> z;) v.push_back(z);
  EXPECT_EQ(v.size(), tokens.size() * kVocab) << out;
  return at::tensor(v, at::kDouble).view({static_cast<int64_t>(tokens.size()), kVocab});
}

using scanlab::testing::error_of;

TEST(HfGpt2, ImportMatchesAFloat64NumpyForwardOfTheFile) {
  if (!python_numpy_available()) GTEST_SKIP() << "/usr/bin/python3 has no numpy (apt install python3-numpy)";
  const std::vector<int64_t> ids{3, 17, 0, 36, 5, 5, 21, 9, 30, 2, 14};
  for (bool tied : {true, false})
    for (bool prefix : {true, false}) {
      SCOPED_TRACE(std::string(tied ? "tied" : "untied") + (prefix ? ", transformer. prefix" : ", bare names"));
      const std::string dir = temp_dir(std::string(tied ? "t" : "u") + (prefix ? "p" : "b"));
      write_hf_checkpoint(dir, tied, prefix);
      const ModelFile f = import_hf_gpt2({dir, "none", ""});
      EXPECT_EQ(f.config["tie_word_embeddings"], tied);
      EXPECT_EQ(f.weights.count("lm_head.weight"), tied ? 0u : 1u);
      auto model = load_model(f, dir, at::kCPU);
      torch::NoGradGuard no_grad;
      const at::Tensor logits = model->forward(at::tensor(ids, at::kLong).unsqueeze(0))[0];
      const at::Tensor ref = numpy_logits(dir, ids);
      EXPECT_LT((logits - ref).abs().max().item<double>(), 1e-10);

      // Export in HF's layout, import again: the same model.
      const std::string out = temp_dir("export");
      export_hf_gpt2(f, out);
      EXPECT_TRUE(fs::exists(out + "/config.json"));
      const auto again = load_model(import_hf_gpt2({out, "none", ""}), out, at::kCPU);
      EXPECT_TRUE(at::equal(again->forward(at::tensor(ids, at::kLong).unsqueeze(0))[0], logits));
      EXPECT_LT((numpy_logits(out, ids) - ref).abs().max().item<double>(), 1e-12);
      fs::remove_all(dir);
      fs::remove_all(out);
    }
}

TEST(HfGpt2, ConfigurationsScanlabDoesNotComputeAreNamed) {
  const std::string dir = temp_dir("bad");
  write_hf_checkpoint(dir, true, true);
  const auto with = [&](const std::string& key, const nlohmann::json& value) {
    nlohmann::json c = hf_config(true);
    c[key] = value;
    write_file_atomically(dir + "/config.json", c.dump());
    return error_of([&] { import_hf_gpt2({dir, "none", ""}); });
  };
  EXPECT_NE(with("activation_function", "relu").find("activation_function"), std::string::npos);
  EXPECT_NE(with("layer_norm_epsilon", 1e-6).find("layer_norm_epsilon"), std::string::npos);
  EXPECT_NE(with("n_inner", 7).find("n_inner"), std::string::npos);
  EXPECT_NE(with("model_type", "llama").find("model_type"), std::string::npos);
  EXPECT_NE(with("n_head", 5).find("n_embd"), std::string::npos);  // 12 is no multiple of 5
  write_hf_checkpoint(dir, /*tied=*/false, true);                  // a separate head, but the config says tied
  EXPECT_NE(with("tie_word_embeddings", true).find("lm_head.weight differs"), std::string::npos);
  fs::remove(dir + "/config.json");
  EXPECT_NE(error_of([&] { import_hf_gpt2({dir, "none", ""}); }).find("config.json"), std::string::npos);
  EXPECT_NE(error_of([&] {
              export_hf_gpt2(model_file_of(*make_model(find_model("gla").small_config())), dir);
            }).find("only gpt2"),
            std::string::npos);
  fs::remove_all(dir);
}

// Warm start: with one chunk (T <= chunk_size), global positions and all GPT-2 blocks in Inf, the
// T-PSM started from a GPT-2 file computes that GPT-2's logits; a longer sequence (Agg on the path)
// runs, and shapes that do not fit are named.
TEST(WarmStart, OneChunkTransformerPsmComputesTheGpt2Logits) {
  for (bool tied : {true, false}) {
    SCOPED_TRACE(tied ? "tied head" : "separate head");
    const std::string dir = temp_dir(tied ? "ws_t" : "ws_u");
    write_hf_checkpoint(dir, tied, true);
    const ModelFile gpt2 = import_hf_gpt2({dir, "none", ""});
    const auto ref = load_model(gpt2, dir, at::kCPU);
    const nlohmann::json psm{{"model", "transformer_psm"}, {"n_layer_agg", 1},
                             {"n_layer_inf", kLayers},     {"chunk_size", 8},
                             {"n_positions", kPositions},  {"position_mode", "global"}};
    const ModelFile f = warm_start_psm(psm, gpt2);
    auto model = load_model(f, "warm start", at::kCPU);
    torch::NoGradGuard no_grad;
    const at::Tensor tokens = at::randint(0, kVocab, {2, 8}, at::kLong);
    EXPECT_LT((model->forward(tokens) - ref->forward(tokens)).abs().max().item<double>(), 1e-12);
    EXPECT_TRUE(model->forward(at::randint(0, kVocab, {1, kPositions}, at::kLong)).isfinite().all().item<bool>());
    const std::string too_deep = error_of([&] {
      warm_start_psm({{"model", "transformer_psm"}, {"n_layer_inf", 3}, {"n_positions", kPositions}, {"chunk_size", 8}},
                     gpt2);
    });
    EXPECT_NE(too_deep.find("n_layer_inf"), std::string::npos) << too_deep;
    EXPECT_NE(error_of([&] {
                warm_start_psm({{"model", "transformer_psm"}, {"n_embd", 24}}, gpt2);
              }).find("n_embd"),
              std::string::npos);
    EXPECT_NE(error_of([&] {
                warm_start_psm({{"model", "transformer_psm"}}, gpt2);
              }).find("positions"),
              std::string::npos);
    fs::remove_all(dir);
  }
}

}  // namespace
}  // namespace scanlab::models
