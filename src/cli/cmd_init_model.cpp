// `scanlab init-model`: write a randomly initialised model file of a registered model.
// `scanlab export`: the weights-only model file of a model file or training checkpoint, or a GPT-2
// in Hugging Face's layout; `scanlab import-hf`: the reverse.
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "models/checkpoint.h"
#include "models/hf_gpt2.h"
#include "models/registry.h"

namespace scanlab::cli {

void register_init_model(CLI::App& root, GlobalContext& ctx) {
  auto opts = std::make_shared<models::InitModelOptions>();
  auto* cmd = root.add_subcommand("init-model", "Write a random-init checkpoint of a registered model");
  cmd->add_option("--model", opts->model, "registered model name")
      ->required()
      ->check(CLI::IsMember(models::model_names()));
  cmd->add_option("--preset", opts->preset, "default (full-size defaults) or small (the registry's test size)")
      ->capture_default_str()
      ->check(CLI::IsMember({"default", "small"}));
  cmd->add_option("--set", opts->overrides, "config override key=value (repeatable), e.g. --set chunk_size=32");
  cmd->add_option("--dtype", opts->dtype, "float32 or float64")
      ->capture_default_str()
      ->check(CLI::IsMember({"float32", "float64"}));
  cmd->add_option("--tokenizer", opts->tokenizer,
                  "tokenizer the file carries: auto (byte when vocab_size >= 256), byte, gpt2, none")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "byte", "gpt2", "none"}));
  cmd->add_option("--bpe-dir", opts->bpe_dir,
                  "folder with GPT-2's encoder.json and vocab.bpe (default data/cache/gpt2)");
  cmd->add_option("--from-gpt2", opts->from_gpt2,
                  "transformer_psm: start Agg and Inf from this GPT-2 model file's blocks")
      ->check(CLI::ExistingFile);
  cmd->add_option("--out", opts->out, "checkpoint path (.safetensors)")->required();
  cmd->callback([opts, &ctx] {
    apply_runtime(ctx.runtime);  // the seed decides the weights
    std::cout << models::init_model(*opts);
  });
}

void register_export(CLI::App& root, GlobalContext&) {
  auto checkpoint = std::make_shared<std::string>(), out = std::make_shared<std::string>();
  auto format = std::make_shared<std::string>("model");
  auto* cmd = root.add_subcommand(
      "export", "Write the weights-only model file of a checkpoint, or a GPT-2 in Hugging Face's layout");
  cmd->add_option("--checkpoint", *checkpoint, "model file or training checkpoint")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--out", *out, "model file to write (.safetensors), or the folder for --format hf")->required();
  cmd->add_option("--format", *format,
                  "model (scanlab's model file) or hf (model.safetensors + config.json for "
                  "GPT2LMHeadModel.from_pretrained)")
      ->capture_default_str()
      ->check(CLI::IsMember({"model", "hf"}));
  cmd->callback([checkpoint, out, format] {
    std::cout << (*format == "hf" ? models::export_hf_command(*checkpoint, *out)
                                  : models::export_model(*checkpoint, *out));
  });
}

void register_import_hf(CLI::App& root, GlobalContext&) {
  auto opts = std::make_shared<models::HfImportOptions>();
  auto out = std::make_shared<std::string>();
  auto* cmd = root.add_subcommand("import-hf", "Convert a Hugging Face GPT-2 checkpoint into a scanlab model file");
  cmd->add_option("path", opts->path, "folder with config.json and model.safetensors, or the .safetensors file")
      ->required()
      ->check(CLI::ExistingPath);
  cmd->add_option("--out", *out, "model file to write (.safetensors)")->required();
  cmd->add_option("--tokenizer", opts->tokenizer, "auto (GPT-2 BPE for vocabulary 50257, else none), gpt2 or none")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "gpt2", "none"}));
  cmd->add_option("--bpe-dir", opts->bpe_dir,
                  "folder with GPT-2's encoder.json and vocab.bpe (default data/cache/gpt2)");
  cmd->callback([opts, out] { std::cout << models::import_hf_command(*opts, *out); });
}

}  // namespace scanlab::cli
