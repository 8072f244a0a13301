// The CLI's subcommands. Each cmd_<name>.cpp registers one subcommand: it parses flags into the
// options struct of its library layer and calls the library; no logic lives in the CLI.
#pragma once
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "core/runtime.h"

namespace scanlab::cli {

// Shared by all subcommands; filled by the global flags before any subcommand callback runs.
struct GlobalContext {
  RuntimeOptions runtime;
  int exit_code = 0;              // a command that finished but must not report success sets it (e.g. 130 after SIGINT)
  std::vector<std::string> argv;  // the command line as given (train --nproc starts workers with it)
};

void register_demo(CLI::App& root, GlobalContext& ctx);
void register_bench(CLI::App& root, GlobalContext& ctx);
void register_init_model(CLI::App& root, GlobalContext& ctx);
void register_export(CLI::App& root, GlobalContext& ctx);     // cmd_init_model.cpp
void register_import_hf(CLI::App& root, GlobalContext& ctx);  // cmd_init_model.cpp
void register_score(CLI::App& root, GlobalContext& ctx);
void register_generate(CLI::App& root, GlobalContext& ctx);
void register_serve(CLI::App& root, GlobalContext& ctx);
void register_nar(CLI::App& root, GlobalContext& ctx);
// `nar train|eval|compare` (cmd_nar_train.cpp), hooked into `nar` by register_nar.
void register_nar_training(CLI::App& nar, GlobalContext& ctx);
void register_train(CLI::App& root, GlobalContext& ctx);
void register_eval(CLI::App& root, GlobalContext& ctx);
void register_plot(CLI::App& root, GlobalContext& ctx);
void register_train_demo(CLI::App& root, GlobalContext& ctx);
void register_report(CLI::App& root, GlobalContext& ctx);
void register_sweep(CLI::App& root, GlobalContext& ctx);

}  // namespace scanlab::cli
