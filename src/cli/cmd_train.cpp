// `scanlab train`: an experiment file (TOML) plus --set overrides, trained to the end or until a
// signal; --resume continues from the run's checkpoint exactly. Data parallel: --nproc N starts N
// ranks on this host; a process started with WORLD_SIZE (torchrun's variables) is one rank.
// --seq-parallel makes the ranks split each sequence instead of the batch.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>

#include <torch/cuda.h>

#include "cli/commands.h"
#include "core/check.h"
#include "dist/group.h"
#include "dist/launch.h"
#include "dist/world.h"
#include "train/data_parallel.h"
#include "train/experiment.h"
#include "train/run_log.h"
#include "train/trainer.h"

namespace scanlab::cli {
namespace {
struct TrainFlags {
  std::string config;
  std::vector<std::string> overrides;
  bool resume = false, progress = false, seq_parallel = false;
  int64_t stop_after = -1;
  int nproc = 0;  // 0: not given
  std::string backend = "auto";
  double timeout_s = 120, bucket_mb = 25;
};

std::string positive(const std::string& v, const std::string& what) {
  double x = 0;
  if (CLI::detail::lexical_cast(v, x) && x > 0 && x <= 1e6) return {};
  return "got " + v + "; expected " + what;
}
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
  cmd->add_option("--nproc", flags->nproc,
                  "data parallel on this host: start N ranks (train.batch_size is the global batch, split "
                  "evenly; torchrun's RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT make a process one rank instead)")
      ->check([](const std::string& v) {
        int n = 0;
        if (CLI::detail::lexical_cast(v, n) && n >= 1 && n <= 4096) return std::string();
        return "got " + v + "; expected a number of processes from 1 to 4096";
      });
  cmd->add_flag(
      "--seq-parallel", flags->seq_parallel,
      "sequence parallel (transformer_psm and the affine family): every rank takes the whole batch and one "
      "block of each sequence's chunks, the scans' block states exchanged between them (docs/distributed.md)");
  cmd->add_option("--backend", flags->backend,
                  "data-parallel collectives: gloo, nccl or auto (nccl on CUDA, gloo on CPU)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "gloo", "nccl"}));
  cmd->add_option("--dist-timeout", flags->timeout_s,
                  "seconds a rank waits for the others (joining, each collective) before it stops naming the "
                  "rank at fault")
      ->capture_default_str()
      ->check([](const std::string& v) { return positive(v, "seconds > 0"); });
  cmd->add_option("--bucket-mb", flags->bucket_mb, "size of the gradient all-reduce buckets in MiB")
      ->capture_default_str()
      ->check([](const std::string& v) { return positive(v, "MiB > 0"); });
  cmd->callback([flags, &ctx] {
    const auto cfg = train::load_experiment(flags->config, flags->overrides);
    train::check_experiment_model(cfg, flags->config + (flags->overrides.empty() ? "" : " (with --set)"));
    const char* world_env = std::getenv("WORLD_SIZE");
    if (flags->nproc > 0)
      SCANLAB_CHECK(world_env == nullptr, "--nproc ", flags->nproc, " and WORLD_SIZE=", world_env,
                    " are both set: --nproc starts the ranks itself, a launcher such as torchrun sets WORLD_SIZE; "
                    "use one of them");
    if (flags->nproc > 1) {
      // The launcher checks what it can before starting anything, so a bad run is one line, not N.
      const auto device = resolve_device(ctx.runtime.device);
      dist::resolve_backend(flags->backend, device);
      if (flags->seq_parallel)
        train::check_seq_parallel(cfg, flags->nproc);
      else
        train::check_batch_divides(cfg.train.batch_size, flags->nproc);
      if (device.is_cuda())
        SCANLAB_CHECK(flags->nproc <= static_cast<int>(torch::cuda::device_count()), "--nproc ", flags->nproc,
                      " on CUDA needs a GPU per rank; this machine has ", torch::cuda::device_count());
      const int threads =
          ctx.runtime.threads > 0 ? ctx.runtime.threads : std::max(1, hardware_threads() / flags->nproc);
      ctx.exit_code = dist::launch_local(dist::worker_argv(ctx.argv, threads), flags->nproc, flags->timeout_s + 30);
      return;
    }
    const auto world = dist::world_from_env();
    auto device = apply_runtime(ctx.runtime);
    train::RunControl control;
    control.seq_parallel = flags->seq_parallel;
    if (flags->seq_parallel) train::check_seq_parallel(cfg, world.size);
    if (world.multi()) {
      if (!flags->seq_parallel) train::check_batch_divides(cfg.train.batch_size, world.size);
      if (device.is_cuda()) device = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(world.local_rank));
      dist::GroupOptions go;
      go.backend = flags->backend;
      go.timeout = std::chrono::milliseconds(static_cast<int64_t>(flags->timeout_s * 1000));
      control.group = std::make_shared<dist::Group>(world, device, go);
      control.bucket_bytes = std::max<int64_t>(1, static_cast<int64_t>(flags->bucket_mb * (1 << 20)));
    }
    const bool root = world.rank == 0;
    control.resume = flags->resume;
    control.progress = flags->progress || train::stderr_is_tty();
    control.stop_after_steps = flags->stop_after;
    const auto result = train::train_experiment(cfg, control, device);
    // A run a signal stopped exits as the shell reports a killed command (128 + signal), after saving,
    // so scripts can tell it from a finished run.
    if (result.stop_signal != 0) ctx.exit_code = 128 + result.stop_signal;
    if (!root) return;
    for (size_t i = 0; i < result.stages.size(); ++i) {
      const auto& s = result.stages[i];
      std::cout << "stage " << i + 1 << " (T=" << s.seq_len << "): " << s.steps << " steps, eval loss " << s.eval_loss
                << ", accuracy " << s.eval_acc << (s.early_stopped ? " (stopped early)" : "") << "\n";
    }
    std::cout << (result.interrupted ? "stopped at step " : "finished at step ") << result.global_step
              << "; checkpoint " << result.checkpoint_path
              << (world.multi() ? " (" + std::to_string(world.size) + " ranks, " + control.group->backend() + ")" : "")
              << "\n";
  });
}

}  // namespace scanlab::cli
