#include "models/checkpoint.h"

#include <c10/util/hash.h>
#include <fmt/format.h>
#include <torch/utils.h>

#include <algorithm>
#include <set>
#include <sstream>

#include "core/check.h"
#include "models/registry.h"
#include "models/warm_start.h"
#include "tokenize/tokenizer.h"

#ifndef SCANLAB_VERSION
#define SCANLAB_VERSION "unknown"
#endif

namespace scanlab::models {
namespace {

constexpr const char* kTokenizerKey = "scanlab.tokenizer";
constexpr const char* kVersionKey = "scanlab.version";
constexpr const char* kHashKey = "scanlab.weights_sha1";
constexpr const char* kContentHashKey = "scanlab.content_sha1";
constexpr const char* kTrainPrefix = "scanlab.train.";
// Elements a config may describe beyond twice what its file holds before the file is refused unbuilt:
// 64 MiB of float32, cheap to build just to have load_weights name the tensors that differ.
constexpr double kSlackElements = 16.0 * 1024 * 1024;

std::string join_names(const std::vector<std::string>& names) {
  constexpr size_t kShown = 12;
  std::string s;
  for (size_t i = 0; i < names.size() && i < kShown; ++i) s += (i ? ", '" : "'") + names[i] + "'";
  if (names.size() > kShown) s += ", ... (" + std::to_string(names.size()) + " in all)";
  return s;
}

// One line per tensor, "name dtype shape sha1(bytes)", by name: the unit both hashes are made of,
// computed once per tensor however many hashes use it.
using TensorLines = std::map<std::string, std::string>;
TensorLines tensor_lines(const std::map<std::string, at::Tensor>& tensors) {
  TensorLines lines;
  for (const auto& [name, t] : tensors) {
    const at::Tensor c = t.detach().to(at::kCPU).contiguous();
    const std::string bytes(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size());
    std::ostringstream line;
    line << name << ' ' << c.scalar_type() << ' ' << c.sizes() << ' ' << c10::sha1(bytes).str() << '\n';
    lines[name] = line.str();
  }
  return lines;
}

bool is_weight_name(const std::string& name) { return name.find('/') == std::string::npos; }

// The weights' hash: the same weights give the same hash whatever else the file holds (training
// sections under "<section>/", metadata), so a stream state or a server session stays bound to the
// weights alone.
std::string weights_sha1(const TensorLines& lines) {
  std::string text;
  for (const auto& [name, line] : lines)
    if (is_weight_name(name)) text += line;
  return c10::sha1(text).str();
}
std::string weights_sha1(const std::map<std::string, at::Tensor>& weights) {
  return weights_sha1(tensor_lines(weights));
}

// The whole file's hash: every tensor (training sections too) and every metadata entry but itself,
// length-prefixed so that no two different files give the same text. A flipped bit in the config or
// the tokenizer changes what the model computes as surely as one in a weight.
std::string content_sha1(const TensorLines& lines, const std::map<std::string, std::string>& metadata) {
  std::string text;
  for (const auto& [name, line] : lines) text += line;
  for (const auto& [key, value] : metadata)
    if (key != kContentHashKey) text += fmt::format("meta {}:{} {}:{}\n", key.size(), key, value.size(), value);
  return c10::sha1(text).str();
}

nlohmann::json parse_json(const std::string& text, const std::string& path, const std::string& key) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    SCANLAB_FAIL(path, ": the '", key, "' metadata is not JSON (", e.what(), ")");
  }
  return {};
}

// The tokenizer of a model file that names none (written before the tokenizer travelled with the
// model, or by init-model without --tokenizer): byte-level when the vocabulary holds the 256 bytes.
nlohmann::json tokenizer_for_vocab(int64_t vocab_size) {
  return vocab_size >= 256 ? tokenize::describe_tokenizer("byte") : tokenize::no_tokenizer("");
}

// The training checkpoints of earlier versions: weights under "model/", metadata "model_config",
// "progress" and "config", no tokenizer (byte-level when the vocabulary holds 256 ids).
ModelFile read_legacy_training_layout(io::Safetensors st, const std::string& path) {
  ModelFile f;
  f.config = parse_json(st.metadata.at("model_config"), path, "model_config");
  for (auto& [k, v] : st.tensors) {
    const auto slash = k.find('/');
    SCANLAB_CHECK(slash != std::string::npos, path, ": unexpected tensor '", k, "' in a training checkpoint");
    const std::string group = k.substr(0, slash), name = k.substr(slash + 1);
    if (group == "model")
      f.weights[name] = v;
    else
      f.sections[group][name] = v;
  }
  for (const char* key : {"progress", "config"})
    SCANLAB_CHECK(st.metadata.count(key), path, ": training checkpoint lacks metadata '", key, "'");
  f.train_metadata["progress"] = st.metadata.at("progress");
  f.train_metadata["experiment"] = st.metadata.at("config");
  f.tokenizer = tokenizer_for_vocab(f.config.value("vocab_size", int64_t{0}));
  f.version = "earlier";
  f.weights_sha1 = weights_sha1(f.weights);
  return f;
}

// Distinct layer indices i of tensors named "<prefix><i>.<...>".
int64_t layers_under(const std::map<std::string, at::Tensor>& weights, const std::string& prefix) {
  std::set<std::string> indices;
  for (const auto& [name, t] : weights) {
    if (name.rfind(prefix, 0) != 0) continue;
    const size_t end = name.find('.', prefix.size());
    const std::string index = name.substr(prefix.size(), end == std::string::npos ? end : end - prefix.size());
    if (!index.empty() && std::all_of(index.begin(), index.end(), [](char c) { return c >= '0' && c <= '9'; }))
      indices.insert(index);
  }
  return static_cast<int64_t>(indices.size());
}

// Runs `body`; a scanlab::Error that does not name `source` yet is thrown again with it in front.
template <class Body>
auto naming_source(const std::string& source, Body body) -> decltype(body()) {
  try {
    return body();
  } catch (const Error& e) {
    const std::string what = e.what();
    if (source.empty() || what.rfind(source, 0) == 0) throw;
    throw Error(source + ": " + what);
  }
}

}  // namespace

void check_config_against_tensors(const nlohmann::json& config, const std::map<std::string, at::Tensor>& weights,
                                  const std::string& source) {
  naming_source(source, [&] {
    SCANLAB_CHECK(config.is_object() && config.contains("model") && config["model"].is_string(),
                  "the model configuration names no model (\"model\": ...)");
    const ModelEntry& entry = find_model(config["model"].get<std::string>());
    for (const SizeEvidence& e : entry.evidence) {
      if (!config.contains(e.key) || !config[e.key].is_number_integer()) continue;  // the default: counted below
      const int64_t said = config[e.key].get<int64_t>();
      if (e.dim < 0) {
        const int64_t held = layers_under(weights, e.tensor);
        SCANLAB_CHECK(said == held, "the config's ", e.key, " is ", said, " but the file holds ", held,
                      " layers under '", e.tensor, "'; expected ", e.key, " = ", held);
        continue;
      }
      auto it = weights.find(e.tensor);
      if (it == weights.end() || it->second.dim() <= e.dim) continue;  // load_weights names what is missing
      const int64_t shown = it->second.size(e.dim);
      SCANLAB_CHECK(said == shown, "the config's ", e.key, " is ", said, " but tensor '", e.tensor, "' is ",
                    it->second.sizes(), "; expected ", e.key, " = ", shown);
    }
    // Keys the tensors do not show directly (a state size, an expansion): a model much larger than
    // the file is refused here; a small mismatch is built and load_weights names the tensors.
    double held = 0;
    for (const auto& [name, t] : weights) held += static_cast<double>(t.numel());
    const double described = entry.parameters(config);
    SCANLAB_CHECK(described <= 2.0 * held + kSlackElements, "the ", entry.name, " config describes ",
                  fmt::format("{:.4g}", described), " parameter elements but the file's ", weights.size(),
                  " tensors hold ", fmt::format("{:.4g}", held),
                  "; expected a config that matches the tensors (a size key such as a width, depth or state "
                  "size was changed)");
    return 0;
  });
}

ModelFile model_file_of(const SequenceModel& model, const nlohmann::json& tokenizer) {
  ModelFile f;
  f.config = model.config();
  f.tokenizer = tokenizer.is_null() ? default_tokenizer(model) : tokenizer;
  for (const auto& p : model.named_parameters()) f.weights[p.key()] = p.value().detach().to(at::kCPU);
  for (const auto& b : model.named_buffers()) f.weights[b.key()] = b.value().detach().to(at::kCPU);
  return f;
}

nlohmann::json default_tokenizer(const SequenceModel& model) { return tokenizer_for_vocab(model.vocab_size()); }

io::Safetensors to_safetensors(const ModelFile& f) {
  SCANLAB_CHECK(f.config.is_object() && f.config.contains("model"), "write_model_file: the config names no model");
  tokenize::tokenizer_summary(f.tokenizer);  // a malformed description is an error before anything is written
  io::Safetensors st;
  for (const auto& [k, v] : f.weights) {
    SCANLAB_CHECK(k.find('/') == std::string::npos, "write_model_file: weight name '", k, "' contains '/'");
    st.tensors[k] = v;
  }
  for (const auto& [section, tensors] : f.sections)
    for (const auto& [k, v] : tensors) st.tensors[section + "/" + k] = v;
  st.metadata[kCheckpointConfigKey] = f.config.dump();
  st.metadata[kTokenizerKey] = f.tokenizer.dump();
  st.metadata[kVersionKey] = SCANLAB_VERSION;
  const TensorLines lines = tensor_lines(st.tensors);
  st.metadata[kHashKey] = weights_sha1(lines);
  st.metadata["format"] = "pt";  // what HF tooling expects of a torch-layout safetensors file
  for (const auto& [k, v] : f.train_metadata) st.metadata[kTrainPrefix + k] = v;
  st.metadata[kContentHashKey] = content_sha1(lines, st.metadata);
  return st;
}

void write_model_file(const std::string& path, const ModelFile& f) { io::save_safetensors(path, to_safetensors(f)); }

io::Safetensors checkpoint_of(const SequenceModel& model) { return to_safetensors(model_file_of(model)); }

ModelFile read_model_file(const std::string& path) { return from_safetensors(io::load_safetensors(path), path); }

ModelFile from_safetensors(io::Safetensors st, const std::string& path) {
  const TensorLines lines = tensor_lines(st.tensors);
  // First, before any field is believed: files written before the content hash (or by other tools) lack it.
  if (st.metadata.count(kContentHashKey)) {
    const std::string actual = content_sha1(lines, st.metadata);
    SCANLAB_CHECK(actual == st.metadata.at(kContentHashKey), path, ": the file's content SHA-1 is ", actual,
                  " but the file says ", st.metadata.at(kContentHashKey),
                  "; the file is corrupt or was edited (its tensors or its metadata)");
  }
  if (!st.metadata.count(kCheckpointConfigKey) && st.metadata.count("model_config"))
    return read_legacy_training_layout(std::move(st), path);
  SCANLAB_CHECK(st.metadata.count(kCheckpointConfigKey), path, ": no '", kCheckpointConfigKey,
                "' metadata; expected a model file written by scanlab (init-model, train or export)");
  ModelFile f;
  f.config = parse_json(st.metadata.at(kCheckpointConfigKey), path, kCheckpointConfigKey);
  SCANLAB_CHECK(f.config.is_object() && f.config.contains("model") && f.config["model"].is_string(), path,
                ": the model configuration names no model (\"model\": ...)");
  f.tokenizer = st.metadata.count(kTokenizerKey) ? parse_json(st.metadata.at(kTokenizerKey), path, kTokenizerKey)
                                                 : tokenizer_for_vocab(f.config.value("vocab_size", int64_t{0}));
  try {
    tokenize::tokenizer_summary(f.tokenizer);
  } catch (const Error& e) {
    SCANLAB_FAIL(path, ": ", e.what());
  }
  f.version = st.metadata.count(kVersionKey) ? st.metadata.at(kVersionKey) : "earlier";
  for (auto& [k, v] : st.tensors) {
    const auto slash = k.find('/');
    if (is_weight_name(k))
      f.weights[k] = v;
    else
      f.sections[k.substr(0, slash)][k.substr(slash + 1)] = v;
  }
  for (const auto& [k, v] : st.metadata)
    if (k.rfind(kTrainPrefix, 0) == 0) f.train_metadata[k.substr(std::string(kTrainPrefix).size())] = v;
  f.weights_sha1 = weights_sha1(lines);
  if (st.metadata.count(kHashKey))
    SCANLAB_CHECK(f.weights_sha1 == st.metadata.at(kHashKey), path, ": the weights' SHA-1 is ", f.weights_sha1,
                  " but the file says ", st.metadata.at(kHashKey), "; the file is corrupt or was edited");
  // NaN or Inf weights would only surface as "NLL nan" far downstream; a model file holds none.
  for (const auto& [name, t] : f.weights)
    SCANLAB_CHECK(!at::isFloatingType(t.scalar_type()) || t.isfinite().all().item<bool>(), path, ": weight '", name,
                  "' holds NaN or Inf values; expected finite weights (a diverged run or a corrupt file)");
  return f;
}

ModelFile weights_only(const ModelFile& file) {
  ModelFile f = file;
  f.sections.clear();
  f.train_metadata.clear();
  return f;
}

void save_checkpoint(const std::string& path, const SequenceModel& model, const nlohmann::json& tokenizer) {
  write_model_file(path, model_file_of(model, tokenizer));
}

void load_weights(SequenceModel& model, const io::Safetensors& st, const std::string& source) {
  load_weights(model, st.tensors, source);
}

void load_weights(SequenceModel& model, const std::map<std::string, at::Tensor>& weights, const std::string& source) {
  std::map<std::string, at::Tensor> slots;  // the model's parameters and buffers
  for (auto& p : model.named_parameters()) slots[p.key()] = p.value();
  for (auto& b : model.named_buffers()) slots[b.key()] = b.value();
  std::vector<std::string> missing, unexpected;
  for (const auto& [k, v] : slots)
    if (!weights.count(k)) missing.push_back(k);
  for (const auto& [k, v] : weights)
    if (!slots.count(k)) unexpected.push_back(k);
  SCANLAB_CHECK(missing.empty() && unexpected.empty(), source, ": weights do not match the ", model.kind(), " model",
                missing.empty() ? "" : "; missing: " + join_names(missing),
                unexpected.empty() ? "" : "; unexpected: " + join_names(unexpected));
  c10::optional<at::ScalarType> dtype;
  for (const auto& [k, t] : weights) {
    SCANLAB_CHECK(at::isFloatingType(t.scalar_type()), source, ": tensor '", k, "' is ", t.scalar_type(),
                  "; expected a floating-point dtype");
    if (!dtype) dtype = t.scalar_type();
    SCANLAB_CHECK(t.scalar_type() == *dtype, source, ": tensor '", k, "' is ", t.scalar_type(), " but others are ",
                  *dtype, "; expected one dtype for every weight");
    SCANLAB_CHECK(t.sizes() == slots.at(k).sizes(), source, ": tensor '", k, "' has shape ", t.sizes(), "; the ",
                  model.kind(), " model expects ", slots.at(k).sizes());
  }
  if (dtype) model.to(*dtype);
  torch::NoGradGuard no_grad;
  for (auto& p : model.named_parameters()) p.value().copy_(weights.at(p.key()));
  for (auto& b : model.named_buffers()) b.value().copy_(weights.at(b.key()));
}

std::shared_ptr<SequenceModel> load_model(const ModelFile& file, const std::string& source, const at::Device& device) {
  check_config_against_tensors(file.config, file.weights, source);
  auto model = naming_source(source, [&] { return make_model(file.config); });
  model->to(device);
  load_weights(*model, file.weights, source);
  model->eval();
  return model;
}

std::shared_ptr<SequenceModel> load_checkpoint(const std::string& path, const at::Device& device) {
  return load_model(read_model_file(path), path, device);
}

std::unique_ptr<tokenize::Tokenizer> text_tokenizer(const ModelFile& file, const std::string& bpe_dir,
                                                    const std::string& use) {
  auto tok = tokenize::tokenizer_from_description(file.tokenizer, bpe_dir);
  SCANLAB_CHECK(tok != nullptr, use, ": this ", file.config.value("model", std::string("model")),
                " file carries no text tokenizer (", tokenize::tokenizer_summary(file.tokenizer),
                "); give token ids instead (--prompt-tokens / --tokens FILE)");
  const int64_t vocab = file.config.value("vocab_size", int64_t{0});
  SCANLAB_CHECK(vocab == 0 || tok->vocab_size() <= vocab, use, ": the ", tokenize::tokenizer_summary(file.tokenizer),
                " tokenizer has ", tok->vocab_size(), " ids but the model only ", vocab);
  return tok;
}

nlohmann::json init_model_config(const InitModelOptions& o) {
  const ModelEntry& entry = find_model(o.model);
  SCANLAB_CHECK(o.preset == "default" || o.preset == "small", "--preset '", o.preset,
                "' is unknown; expected default or small");
  nlohmann::json config = o.preset == "small" ? entry.small_config() : nlohmann::json{{"model", o.model}};
  for (const auto& kv : o.overrides) {
    const size_t eq = kv.find('=');
    SCANLAB_CHECK(eq != std::string::npos && eq > 0, "--set '", kv, "': expected key=value");
    const std::string key = kv.substr(0, eq), value = kv.substr(eq + 1);
    SCANLAB_CHECK(key != "model", "--set model=...: choose the model with --model");
    // Numbers and true/false are JSON; anything else (chunk_local, causal) is taken as a string.
    config[key] = nlohmann::json::accept(value) ? nlohmann::json::parse(value) : nlohmann::json(value);
  }
  return config;
}

std::string init_model(const InitModelOptions& o) {
  SCANLAB_CHECK(o.dtype == "float32" || o.dtype == "float64", "--dtype '", o.dtype,
                "' is unknown; expected float32 or float64");
  SCANLAB_CHECK(o.tokenizer == "auto" || o.tokenizer == "byte" || o.tokenizer == "gpt2" || o.tokenizer == "none",
                "--tokenizer '", o.tokenizer, "' is unknown; expected auto, byte, gpt2 or none");
  if (!o.from_gpt2.empty()) {
    SCANLAB_CHECK(o.tokenizer == "auto", "--from-gpt2 takes the GPT-2 file's tokenizer; drop --tokenizer");
    ModelFile f = warm_start_psm(init_model_config(o), read_model_file(o.from_gpt2));
    for (auto& [k, t] : f.weights) t = t.to(o.dtype == "float64" ? at::kDouble : at::kFloat);
    load_model(f, o.from_gpt2, at::kCPU);
    write_model_file(o.out, f);
    int64_t n = 0;
    for (const auto& [k, t] : f.weights) n += t.numel();
    return "transformer_psm: " + std::to_string(n) + " parameters (" + o.dtype + ") from the GPT-2 blocks of " +
           o.from_gpt2 + ", written to " + o.out + "\n";
  }
  auto model = make_model(init_model_config(o));
  model->to(o.dtype == "float64" ? at::kDouble : at::kFloat);
  nlohmann::json tok;
  if (o.tokenizer == "none") tok = tokenize::no_tokenizer("");
  if (o.tokenizer == "byte" || o.tokenizer == "gpt2") {
    tok = tokenize::describe_tokenizer(o.tokenizer, o.bpe_dir);
    const int64_t need = tokenize::tokenizer_from_description(tok, o.bpe_dir)->vocab_size();
    SCANLAB_CHECK(model->vocab_size() >= need, "--tokenizer ", o.tokenizer, " needs vocab_size >= ", need,
                  "; the model has ", model->vocab_size(), " (--set vocab_size=", need, ")");
  }
  save_checkpoint(o.out, *model, tok);
  int64_t n = 0;
  for (const auto& p : model->parameters()) n += p.numel();
  return model->kind() + ": " + std::to_string(n) + " parameters (" + o.dtype + ") written to " + o.out + "\n";
}

std::string export_model(const std::string& checkpoint, const std::string& out) {
  const ModelFile f = read_model_file(checkpoint);
  load_model(f, checkpoint, at::kCPU);  // the weights must build the model they claim to be
  write_model_file(out, weights_only(f));
  return f.config.value("model", std::string("model")) + ": " + std::to_string(f.weights.size()) +
         " tensors, tokenizer " + tokenize::tokenizer_summary(f.tokenizer) + ", written to " + out + "\n";
}

}  // namespace scanlab::models
