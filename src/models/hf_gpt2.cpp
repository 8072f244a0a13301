#include "models/hf_gpt2.h"

#include <cmath>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/check.h"
#include "tokenize/tokenizer.h"

namespace scanlab::models {
namespace {

namespace fs = std::filesystem;
constexpr const char* kPrefix = "transformer.";

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

nlohmann::json read_hf_config(const fs::path& path) {
  SCANLAB_CHECK(fs::is_regular_file(path), "import-hf: '", path.string(), "' is missing; expected the config.json of ",
                "a Hugging Face GPT-2 checkpoint beside its model.safetensors");
  try {
    return nlohmann::json::parse(read_file(path.string()));
  } catch (const nlohmann::json::exception& e) {
    SCANLAB_FAIL("import-hf: '", path.string(), "' is not JSON (", e.what(), ")");
  }
  return {};
}

int64_t hf_int(const nlohmann::json& c, const std::string& key, const std::string& source) {
  SCANLAB_CHECK(c.contains(key) && c[key].is_number_integer() && c[key].get<int64_t>() >= 1, source, ": '", key,
                "' must be a positive integer; got ", c.contains(key) ? c[key].dump() : std::string("nothing"));
  return c[key].get<int64_t>();
}

// HF's config as scanlab's GPT-2 config; what scanlab's blocks do not compute is an error naming it.
nlohmann::json scanlab_config(const nlohmann::json& c, const std::string& source) {
  if (c.contains("model_type"))
    SCANLAB_CHECK(c["model_type"] == "gpt2", source, ": model_type is ", c["model_type"].dump(), "; expected \"gpt2\"");
  const int64_t d = hf_int(c, "n_embd", source);
  nlohmann::json s{{"model", "gpt2"},
                   {"vocab_size", hf_int(c, "vocab_size", source)},
                   {"n_positions", hf_int(c, c.contains("n_positions") ? "n_positions" : "n_ctx", source)},
                   {"n_embd", d},
                   {"n_head", hf_int(c, "n_head", source)},
                   {"n_layer", hf_int(c, "n_layer", source)},
                   {"tie_word_embeddings", c.value("tie_word_embeddings", true)}};
  for (const char* p : {"attn_pdrop", "resid_pdrop", "embd_pdrop"})
    if (c.contains(p)) s[p] = c[p].get<double>();
  const double eps = c.value("layer_norm_epsilon", 1e-5);
  SCANLAB_CHECK(std::abs(eps - 1e-5) < 1e-12, source, ": layer_norm_epsilon is ", eps,
                "; scanlab's GPT-2 blocks use 1e-5");
  const std::string act = c.value("activation_function", std::string("gelu_new"));
  SCANLAB_CHECK(act == "gelu_new", source, ": activation_function is \"", act,
                "\"; scanlab's GPT-2 blocks use gelu_new (GELU, tanh approximation)");
  if (c.contains("n_inner") && !c["n_inner"].is_null())
    SCANLAB_CHECK(c["n_inner"].get<int64_t>() == 4 * d, source, ": n_inner is ", c["n_inner"].dump(),
                  "; scanlab's GPT-2 MLP is 4 * n_embd = ", 4 * d);
  for (const char* flag : {"scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"})
    SCANLAB_CHECK(!c.value(flag, false), source, ": ", flag, " is true; scanlab's GPT-2 attention does not do that");
  return s;
}

}  // namespace

ModelFile import_hf_gpt2(const HfImportOptions& o) {
  const fs::path path(o.path);
  const fs::path weights = fs::is_directory(path) ? path / "model.safetensors" : path;
  const fs::path config_path = weights.parent_path() / "config.json";
  SCANLAB_CHECK(fs::is_regular_file(weights), "import-hf: '", weights.string(), "' is missing; expected a folder ",
                "holding config.json and model.safetensors, or the .safetensors file");
  const std::string source = weights.string();
  ModelFile f;
  f.config = scanlab_config(read_hf_config(config_path), config_path.string());
  const bool tied = f.config["tie_word_embeddings"].get<bool>();
  at::Tensor lm_head;
  for (auto& [name, t] : io::load_safetensors(source).tensors) {
    const std::string n = name.rfind(kPrefix, 0) == 0 ? name.substr(std::string(kPrefix).size()) : name;
    if (ends_with(n, ".attn.bias") || ends_with(n, ".attn.masked_bias")) continue;  // HF's mask buffers
    if (n == "lm_head.weight") {
      lm_head = t;
      continue;
    }
    f.weights[n] = t;
  }
  SCANLAB_CHECK(f.weights.count("wte.weight"), source, ": no wte.weight (or transformer.wte.weight)");
  if (tied) {
    SCANLAB_CHECK(!lm_head.defined() || at::equal(lm_head, f.weights["wte.weight"]), source,
                  ": lm_head.weight differs from wte.weight, but config.json says tie_word_embeddings; set it false");
  } else {
    SCANLAB_CHECK(lm_head.defined(), source, ": config.json unties the head but the file has no lm_head.weight");
    f.weights["lm_head.weight"] = lm_head;
  }
  // One floating dtype, as the model file wants; HF files are float32 or half precision.
  const auto dtype = f.weights.at("wte.weight").scalar_type();
  for (auto& [n, t] : f.weights) t = t.to(dtype == at::kDouble ? at::kDouble : at::kFloat);
  const int64_t vocab = f.config["vocab_size"].get<int64_t>();
  const std::string kind = o.tokenizer == "auto" ? (vocab == 50257 ? "gpt2" : "none") : o.tokenizer;
  SCANLAB_CHECK(kind == "gpt2" || kind == "none", "import-hf: --tokenizer '", o.tokenizer,
                "'; expected auto, gpt2 or none");
  f.tokenizer = kind == "gpt2" ? tokenize::describe_tokenizer("gpt2", o.bpe_dir) : tokenize::no_tokenizer("");
  load_model(f, source, at::kCPU);  // names, shapes and dtypes must build the model
  return f;
}

void export_hf_gpt2(const ModelFile& file, const std::string& dir) {
  SCANLAB_CHECK(file.config.value("model", std::string()) == "gpt2", "export --format hf: the model is ",
                file.config.value("model", std::string("?")), "; only gpt2 has a Hugging Face layout");
  io::Safetensors st;
  for (const auto& [n, t] : file.weights) st.tensors[n == "lm_head.weight" ? n : kPrefix + n] = t;
  st.metadata["format"] = "pt";
  const auto& c = file.config;
  const nlohmann::json hf{{"model_type", "gpt2"},
                          {"architectures", {"GPT2LMHeadModel"}},
                          {"vocab_size", c["vocab_size"]},
                          {"n_positions", c["n_positions"]},
                          {"n_ctx", c["n_positions"]},
                          {"n_embd", c["n_embd"]},
                          {"n_head", c["n_head"]},
                          {"n_layer", c["n_layer"]},
                          {"n_inner", nullptr},
                          {"activation_function", "gelu_new"},
                          {"layer_norm_epsilon", 1e-5},
                          {"attn_pdrop", c.value("attn_pdrop", 0.1)},
                          {"resid_pdrop", c.value("resid_pdrop", 0.1)},
                          {"embd_pdrop", c.value("embd_pdrop", 0.1)},
                          {"tie_word_embeddings", c.value("tie_word_embeddings", true)},
                          {"bos_token_id", tokenize::kGpt2EndOfText},
                          {"eos_token_id", tokenize::kGpt2EndOfText}};
  fs::create_directories(dir);
  io::save_safetensors((fs::path(dir) / "model.safetensors").string(), st);
  write_file_atomically((fs::path(dir) / "config.json").string(), hf.dump(2) + "\n");
}

std::string import_hf_command(const HfImportOptions& o, const std::string& out) {
  const ModelFile f = import_hf_gpt2(o);
  write_model_file(out, f);
  return "gpt2: " + std::to_string(f.config["n_layer"].get<int64_t>()) + " layers, d " +
         std::to_string(f.config["n_embd"].get<int64_t>()) + ", vocabulary " +
         std::to_string(f.config["vocab_size"].get<int64_t>()) + ", tokenizer " +
         tokenize::tokenizer_summary(f.tokenizer) + ", written to " + out + "\n";
}

std::string export_hf_command(const std::string& checkpoint, const std::string& dir) {
  const ModelFile f = read_model_file(checkpoint);
  export_hf_gpt2(f, dir);
  return "gpt2 in Hugging Face's layout written to " + dir + "/ (model.safetensors, config.json)\n";
}

}  // namespace scanlab::models
