// The model file: one safetensors file holds a model and what it needs to run, and a training
// checkpoint is the same file with training sections added, so every command that reads a model
// (score, eval, generate, export, serve) reads either kind. This is the only reader and writer.
//   tensors   every parameter and buffer under its module path (HF GPT-2 names: wte, wpe,
//             h.<i>.ln_1, h.<i>.attn.c_attn [in, out], ..., ln_f; the T-PSM's stacks under "agg."
//             and "inf."); a training checkpoint adds "<section>/<key>" tensors (adam/, rng/)
//   metadata  "scanlab.config" (the model's configuration JSON, rebuilt through the registry),
//             "scanlab.tokenizer" (tokenize::describe_tokenizer), "scanlab.version",
//             "scanlab.weights_sha1" (over every model tensor's name, dtype, shape and bytes: what
//             stream states and server sessions are bound to), "format": "pt"; a training
//             checkpoint adds "scanlab.train.*"; last, "scanlab.content_sha1" (over every tensor
//             and every other metadata entry). Both hashes are checked on reading, the content
//             hash before any field is read.
// Loading is strict: missing and unexpected names are listed, shapes and dtypes must match.
// Files of the earlier training layout (weights under "model/", metadata "model_config") are read too.
#pragma once
#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "models/sequence_model.h"

namespace scanlab::tokenize {
class Tokenizer;
}

namespace scanlab::models {

constexpr const char* kCheckpointConfigKey = "scanlab.config";

struct ModelFile {
  nlohmann::json config;                      // {"model": name, ...}
  nlohmann::json tokenizer;                   // {"kind": "byte" | "gpt2" | "none", ...}
  std::string version;                        // scanlab version that wrote it (filled by write_model_file)
  std::string weights_sha1;                   // of the weights as read (from_safetensors); saved stream states carry it
  std::map<std::string, at::Tensor> weights;  // parameters and buffers
  std::map<std::string, std::map<std::string, at::Tensor>> sections;  // training only: "adam", "rng"
  std::map<std::string, std::string> train_metadata;                  // "progress", "experiment" (JSON text)
  bool is_training_checkpoint() const { return train_metadata.count("progress") > 0; }
};

// The weights-only model file of `model` (tensors on the CPU); a null tokenizer means default_tokenizer.
ModelFile model_file_of(const SequenceModel& model, const nlohmann::json& tokenizer = {});
// The file as safetensors and back (`source` names it in errors); write/read add the atomic file.
io::Safetensors to_safetensors(const ModelFile& file);
ModelFile from_safetensors(io::Safetensors st, const std::string& source);
void write_model_file(const std::string& path, const ModelFile& file);
ModelFile read_model_file(const std::string& path);
// The safetensors of model_file_of(model): tests edit it to make bad files.
io::Safetensors checkpoint_of(const SequenceModel& model);
// The same file without its training sections: what `scanlab export` writes.
ModelFile weights_only(const ModelFile& file);

// The tokenizer a model gets when nothing says otherwise: byte-level when its vocabulary holds the
// 256 bytes, none otherwise.
nlohmann::json default_tokenizer(const SequenceModel& model);
void save_checkpoint(const std::string& path, const SequenceModel& model, const nlohmann::json& tokenizer = {});

// Copies weights into `model` (which keeps its device); the file's floating dtype must be one
// dtype, and the model is converted to it. `source` names the origin in errors.
void load_weights(SequenceModel& model, const std::map<std::string, at::Tensor>& weights, const std::string& source);
void load_weights(SequenceModel& model, const io::Safetensors& st, const std::string& source);  // st.tensors
// Checks a model file's config against its tensors before anything is built: each size key of the
// registry entry's evidence (layers, widths, vocabulary) must be what the tensors show, and the
// config's parameter count (ModelEntry::parameters) must not exceed twice the elements the file
// holds (plus 16 Mi). So a 5 KB file whose config claims 10^12 layers is refused at once instead of
// being built. Errors name `source`, the key and the value the tensors imply.
void check_config_against_tensors(const nlohmann::json& config, const std::map<std::string, at::Tensor>& weights,
                                  const std::string& source);

// Rebuilds the model from the file's config (checked first, as above) and loads its weights, on
// `device`, in eval mode. Errors of the config name `source`.
std::shared_ptr<SequenceModel> load_model(const ModelFile& file, const std::string& source, const at::Device& device);
std::shared_ptr<SequenceModel> load_checkpoint(const std::string& path, const at::Device& device = at::kCPU);

// The text tokenizer the file carries, rebuilt (GPT-2 files from `bpe_dir`, empty: the default
// folder) and checked against the model's vocabulary. A model of token ids only is an error that
// names `use` (the flag that wanted text, e.g. "generate --prompt") and the way round it.
std::unique_ptr<tokenize::Tokenizer> text_tokenizer(const ModelFile& file, const std::string& bpe_dir,
                                                    const std::string& use);

// `scanlab init-model`: a random-init checkpoint of a registered model.
struct InitModelOptions {
  std::string model;                   // registry name
  std::string preset = "default";      // "default" (the options' defaults) or "small" (registry small_config)
  std::vector<std::string> overrides;  // "key=value"; value is JSON (numbers, true/false) or a bare string
  std::string dtype = "float32";       // float32 | float64
  std::string tokenizer = "auto";      // auto (byte when the vocabulary holds 256 ids, else none) | byte | gpt2 | none
  std::string bpe_dir;                 // GPT-2 files for tokenizer gpt2 (default tokenize::kDefaultBpeDir)
  std::string from_gpt2;               // transformer_psm only: start from this GPT-2 model file (warm_start.h)
  std::string out;                     // checkpoint path
};
nlohmann::json init_model_config(const InitModelOptions& o);
// Writes the checkpoint; returns a one-line summary (model, parameters, path).
std::string init_model(const InitModelOptions& o);

// `scanlab export`: the weights-only model file of a model file or training checkpoint; returns a
// one-line summary.
std::string export_model(const std::string& checkpoint, const std::string& out);

}  // namespace scanlab::models
