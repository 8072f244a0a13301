// `scanlab init-model`: write a randomly initialised checkpoint of a registered model.
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
  cmd->add_option("--out", opts->out, "checkpoint path (.safetensors)")->required();
  cmd->callback([opts, &ctx] {
    apply_runtime(ctx.runtime);  // the seed decides the weights
    std::cout << models::init_model(*opts);
  });
}

}  // namespace scanlab::cli
