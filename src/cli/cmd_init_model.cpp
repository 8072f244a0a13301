// `scanlab init-model`: write a randomly initialised model file of a registered model.
// `scanlab export`: the weights-only model file of a model file or training checkpoint.
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "models/checkpoint.h"
#include "models/registry.h"

namespace scanlab::cli {

void register_init_model(CLI::App& root, GlobalContext& ctx) {
  auto opts = std::make_shared<models::InitModelOptions>();
  auto* cmd = root.add_subcommand("init-model", "Write a random-init checkpoint of a registered model");
  cmd->add_option("--model", opts->model, "registered model name")->required()->check(CLI::IsMember(models::model_names()));
  cmd->add_option("--preset", opts->preset, "default (full-size defaults) or small (the registry's test size)")
      ->capture_default_str()
      ->check(CLI::IsMember({"default", "small"}));
  cmd->add_option("--set", opts->overrides, "config override key=value (repeatable), e.g. --set chunk_size=32");
  cmd->add_option("--dtype", opts->dtype, "float32 or float64")->capture_default_str()->check(CLI::IsMember({"float32", "float64"}));
  cmd->add_option("--tokenizer", opts->tokenizer, "tokenizer the file carries: auto (byte when vocab_size >= 256), byte, gpt2, none")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "byte", "gpt2", "none"}));
  cmd->add_option("--bpe-dir", opts->bpe_dir, "folder with GPT-2's encoder.json and vocab.bpe (default data/cache/gpt2)");
  cmd->add_option("--out", opts->out, "checkpoint path (.safetensors)")->required();
  cmd->callback([opts, &ctx] {
    apply_runtime(ctx.runtime);  // the seed decides the weights
    std::cout << models::init_model(*opts);
  });
}

void register_export(CLI::App& root, GlobalContext&) {
  auto checkpoint = std::make_shared<std::string>(), out = std::make_shared<std::string>();
  auto* cmd = root.add_subcommand("export", "Write the weights-only model file (weights, config, tokenizer) of a checkpoint");
  cmd->add_option("--checkpoint", *checkpoint, "model file or training checkpoint")->required()->check(CLI::ExistingFile);
  cmd->add_option("--out", *out, "model file to write (.safetensors)")->required();
  cmd->callback([checkpoint, out] { std::cout << models::export_model(*checkpoint, *out); });
}

}  // namespace scanlab::cli
