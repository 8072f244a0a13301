// `scanlab train`: an experiment file (TOML) plus --set overrides, trained to the end or until a
// signal; --resume continues from the run's checkpoint exactly.
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "config/experiment.h"
#include "train/run_log.h"
#include "train/trainer.h"

namespace scanlab::cli {
namespace {
struct TrainFlags {
  std::string config;
  std::vector<std::string> overrides;
  bool resume = false, progress = false;
  int64_t stop_after = -1;
};
}  // namespace

void register_train(CLI::App& root, GlobalContext& ctx) {
  auto flags = std::make_shared<TrainFlags>();
  auto* cmd = root.add_subcommand("train", "Train a model on a task from an experiment file (configs/*.toml)");
  cmd->add_option("--config", flags->config, "experiment TOML file")->required()->check(CLI::ExistingFile);
  cmd->add_option("--set", flags->overrides, "override a key, e.g. --set train.lr=3e-4 (repeatable)");
  cmd->add_flag("--resume", flags->resume, "continue from <train.out_dir>/checkpoint.safetensors");
  cmd->add_flag("--progress", flags->progress, "draw the progress bar even when stderr is not a terminal");
  cmd->add_option("--stop-after", flags->stop_after, "save and stop after this many steps (as a kill would)")
      ->check(CLI::NonNegativeNumber);
  cmd->callback([flags, &ctx] {
    const auto device = apply_runtime(ctx.runtime);
    const auto cfg = config::load_experiment(flags->config, flags->overrides);
    train::RunControl control;
    control.resume = flags->resume;
    control.progress = flags->progress || train::stderr_is_tty();
    control.stop_after_steps = flags->stop_after;
    const auto result = train::train_experiment(cfg, control, device);
    for (size_t i = 0; i < result.stages.size(); ++i) {
      const auto& s = result.stages[i];
      std::cout << "stage " << i + 1 << " (T=" << s.seq_len << "): " << s.steps << " steps, eval loss " << s.eval_loss
                << ", accuracy " << s.eval_acc << (s.early_stopped ? " (stopped early)" : "") << "\n";
    }
    std::cout << (result.interrupted ? "stopped at step " : "finished at step ") << result.global_step
              << "; checkpoint " << result.checkpoint_path << "\n";
    // A run a signal stopped exits as the shell reports a killed command (128 + signal), after saving,
    // so scripts can tell it from a finished run.
    if (result.stop_signal != 0) ctx.exit_code = 128 + result.stop_signal;
  });
}

}  // namespace scanlab::cli
