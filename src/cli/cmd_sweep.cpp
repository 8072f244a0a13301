// `scanlab sweep`: the cells of a study or a sweep (one scanlab command line each in a jobs file)
// spread over this host's devices, K at a time per device, resumable (dist/sweep.h).
#include <memory>

#include <torch/cuda.h>

#include "cli/commands.h"
#include "dist/sweep.h"

namespace scanlab::cli {

void register_sweep(CLI::App& root, GlobalContext& ctx) {
  struct Flags {
    dist::SweepOptions options;
    std::string devices = "auto";
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = root.add_subcommand(
      "sweep", "Run many independent jobs (one scanlab command line per line of a file) over this host's devices");
  cmd->add_option("--jobs", f->options.jobs_file,
                  "jobs file: one command line per line (\"train --config a.toml --set name=x\"), # comments")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--devices", f->devices,
                  "cpu, all (every CUDA device), or a list such as cuda:0,cuda:1; auto: all if CUDA is there, else cpu")
      ->capture_default_str();
  cmd->add_option("--per-device", f->options.per_device,
                  "jobs at once on each device (small jobs share a GPU well under MPS)")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  cmd->add_option("--log-dir", f->options.log_dir,
                  "folder for job-<n>.log and the markers of finished jobs (a later sweep skips those)")
      ->required();
  cmd->add_flag("--quiet", f->options.quiet, "no line per job started and finished, only the summary");
  cmd->callback([f, &ctx] {
    const int cuda = torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
    const std::string spec = f->devices == "auto" ? (cuda > 0 ? "all" : "cpu") : f->devices;
    f->options.devices = dist::parse_sweep_devices(spec, cuda);
    ctx.exit_code = dist::run_sweep(f->options);
  });
}

}  // namespace scanlab::cli
