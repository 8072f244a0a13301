// `scanlab sweep`: many independent runs (the cells of a study or a hyperparameter sweep) spread over
// the devices of this host, K at a time per device, each a scanlab command line from a jobs file. A
// GPU job sees only its device (CUDA_VISIBLE_DEVICES), so its own `--device cuda` means that GPU. A
// job that ends with exit 0 leaves a marker holding its command line; a later sweep over the same
// log folder skips it, so a sweep cut off (a machine taken back, Ctrl-C) resumes where it stopped.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace scanlab::dist {

struct SweepJob {
  int64_t line = 0;               // in the jobs file, for messages
  std::vector<std::string> args;  // after the program name, e.g. {"train", "--config", "a.toml"}
  std::string text;               // the line as written (trimmed)
};

// One job per non-blank line that does not start with '#': words split at white space, a word in
// single or double quotes kept whole (no escapes). An unclosed quote, a job that is itself a sweep
// and a file without jobs are errors naming the file and line.
std::vector<SweepJob> read_sweep_jobs(const std::string& path);

struct SweepOptions {
  std::string jobs_file;
  std::vector<std::string> devices;  // "cpu" or "cuda:N"
  int per_device = 1;                // jobs at once on each device
  std::string log_dir;               // job-<n>.log and job-<n>.done (n: the job's 1-based order)
  bool quiet = false;                // no line per job started / finished
};

// "cpu", "all" (every CUDA device) or a list "cuda:0,cuda:1" / "0,1"; `cuda_devices` is the number
// this host has. Errors name the device and what exists.
std::vector<std::string> parse_sweep_devices(const std::string& spec, int cuda_devices);

// Runs the jobs not finished before; returns 0 when every job has finished, 1 when some failed (each
// named with its log), 130 / 143 after SIGINT / SIGTERM (passed on to the running jobs, which save).
int run_sweep(const SweepOptions& o);

}  // namespace scanlab::dist
