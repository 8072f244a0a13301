#include "dist/sweep.h"

#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "core/atomic_file.h"
#include "core/check.h"
#include "core/text.h"
#include "dist/launch.h"

namespace scanlab::dist {
namespace {

namespace fs = std::filesystem;

std::atomic<int> g_sweep_signal{0};
extern "C" void on_sweep_signal(int sig) { g_sweep_signal.store(sig); }

std::vector<std::string> split_words(const std::string& line, const std::string& where) {
  std::vector<std::string> words;
  std::string cur;
  bool in_word = false;
  char quote = 0;
  for (char ch : line) {
    if (quote) {
      if (ch == quote)
        quote = 0;
      else
        cur += ch;
    } else if (ch == '\'' || ch == '"') {
      quote = ch;
      in_word = true;
    } else if (ch == ' ' || ch == '\t' || ch == '\r') {
      if (in_word) words.push_back(cur);
      cur.clear();
      in_word = false;
    } else {
      cur += ch;
      in_word = true;
    }
  }
  SCANLAB_CHECK(quote == 0, where, ": a quote (", std::string(1, quote),
                ") is not closed; expected a job line with its quotes paired");
  if (in_word) words.push_back(cur);
  return words;
}

std::string done_marker(const SweepOptions& o, size_t n) {
  return (fs::path(o.log_dir) / fmt::format("job-{}.done", n)).string();
}
std::string log_file(const SweepOptions& o, size_t n) {
  return (fs::path(o.log_dir) / fmt::format("job-{}.log", n)).string();
}

// Finished before: its marker holds this very command line (a changed line runs again).
bool finished_before(const SweepOptions& o, size_t n, const SweepJob& job) {
  std::ifstream in(done_marker(o, n));
  std::string text;
  return in && std::getline(in, text) && text == job.text;
}

}  // namespace

std::vector<SweepJob> read_sweep_jobs(const std::string& path) {
  std::ifstream in(path);
  SCANLAB_CHECK(in.good(), path, ": cannot read the jobs file; expected one scanlab command line per line");
  std::vector<SweepJob> jobs;
  std::string line;
  int64_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    const std::string text = trim_blanks(line);
    if (text.empty() || text[0] == '#') continue;
    const std::string where = fmt::format("{} line {}", path, n);
    SweepJob job{n, split_words(text, where), text};
    if (!job.args.empty() && job.args[0] == "scanlab") job.args.erase(job.args.begin());  // "scanlab train ..." too
    SCANLAB_CHECK(!job.args.empty(), where, ": the job is only 'scanlab'; expected a subcommand and its flags");
    SCANLAB_CHECK(job.args[0] != "sweep", where, ": a job may not be a sweep itself");
    jobs.push_back(std::move(job));
  }
  SCANLAB_CHECK(!jobs.empty(), path,
                ": no jobs (every line is blank or a # comment); expected one scanlab command line per line");
  return jobs;
}

std::vector<std::string> parse_sweep_devices(const std::string& spec, int cuda_devices) {
  if (spec == "cpu") return {"cpu"};
  if (spec == "all") {
    SCANLAB_CHECK(cuda_devices > 0, "--devices all: this host has no CUDA device; use --devices cpu");
    std::vector<std::string> out;
    for (int i = 0; i < cuda_devices; ++i) out.push_back("cuda:" + std::to_string(i));
    return out;
  }
  std::vector<std::string> out;
  std::stringstream ss(spec);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const std::string id = item.rfind("cuda:", 0) == 0 ? item.substr(5) : item;
    int index = -1;
    size_t used = 0;
    try {
      index = std::stoi(id, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    SCANLAB_CHECK(used == id.size() && !id.empty() && index >= 0, "--devices: '", item,
                  "' is not a device; expected cpu, all, or CUDA devices such as cuda:0,cuda:1");
    SCANLAB_CHECK(index < cuda_devices, "--devices: ", item, " does not exist; this host has ", cuda_devices,
                  " CUDA device(s)");
    out.push_back("cuda:" + std::to_string(index));
  }
  SCANLAB_CHECK(!out.empty(), "--devices '", spec, "': expected cpu, all, or a list such as cuda:0,cuda:1");
  return out;
}

int run_sweep(const SweepOptions& o) {
  SCANLAB_CHECK(o.per_device >= 1 && o.per_device <= 256, "--per-device ", o.per_device, ": expected 1 to 256");
  SCANLAB_CHECK(!o.devices.empty(), "sweep: no devices");
  const std::vector<SweepJob> jobs = read_sweep_jobs(o.jobs_file);
  std::error_code ec;
  fs::create_directories(o.log_dir, ec);
  SCANLAB_CHECK(!ec && fs::is_directory(o.log_dir), "--log-dir ", o.log_dir, ": cannot create it (", ec.message(), ")");

  std::vector<size_t> todo;  // 1-based job numbers
  for (size_t i = 0; i < jobs.size(); ++i)
    if (!finished_before(o, i + 1, jobs[i])) todo.push_back(i + 1);
  const size_t skipped = jobs.size() - todo.size();
  std::string device_list;
  for (const auto& d : o.devices) device_list += (device_list.empty() ? "" : ",") + d;
  std::cerr << fmt::format("scanlab sweep: {} job(s) in {}, {} finished before, {} to run on {} x {}\n", jobs.size(),
                           o.jobs_file, skipped, todo.size(), device_list, o.per_device);

  const std::vector<std::string> base_env =
      environment_without({"CUDA_VISIBLE_DEVICES", "RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE"});
  const std::string self = fs::read_symlink("/proc/self/exe", ec).string();
  struct Slot {
    std::string device;
    pid_t pid = -1;
    size_t job = 0;
    std::chrono::steady_clock::time_point started;
  };
  std::vector<Slot> slots;
  for (const auto& d : o.devices)
    for (int k = 0; k < o.per_device; ++k) {
      Slot s;
      s.device = d;
      slots.push_back(s);
    }

  g_sweep_signal.store(0);
  auto prev_int = std::signal(SIGINT, on_sweep_signal);
  auto prev_term = std::signal(SIGTERM, on_sweep_signal);
  size_t next = 0, done = 0, failed = 0;
  int forwarded = 0;
  std::vector<std::string> failures;
  auto running = [&] {
    size_t n = 0;
    for (const auto& s : slots) n += s.pid > 0;
    return n;
  };
  while (next < todo.size() || running() > 0) {
    if (const int sig = g_sweep_signal.load(); sig != 0 && sig != forwarded) {
      for (const auto& s : slots)
        if (s.pid > 0) ::kill(s.pid, sig);
      forwarded = sig;
      std::cerr << fmt::format("scanlab sweep: signal {}: passed on to {} running job(s); no new job starts\n", sig,
                               running());
    }
    for (auto& s : slots) {
      if (s.pid > 0 || next >= todo.size() || forwarded != 0) continue;
      const size_t n = todo[next++];
      const SweepJob& job = jobs[n - 1];
      std::vector<std::string> args{self.empty() ? "scanlab" : self};
      args.insert(args.end(), job.args.begin(), job.args.end());
      std::vector<std::string> env = base_env;
      if (s.device != "cpu") env.push_back("CUDA_VISIBLE_DEVICES=" + s.device.substr(5));
      fs::remove(done_marker(o, n), ec);
      s.pid = spawn_self(args, env, log_file(o, n), fmt::format("job {}", n));
      s.job = n;
      s.started = std::chrono::steady_clock::now();
      if (!o.quiet)
        std::cerr << fmt::format("[{}/{}] job {} started on {}: {}\n", done + failed + running(), todo.size(), n,
                                 s.device, job.text);
    }
    int st = 0;
    const pid_t pid = ::waitpid(-1, &st, WNOHANG);
    if (pid <= 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    for (auto& s : slots) {
      if (s.pid != pid) continue;
      s.pid = -1;
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - s.started).count();
      if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        ++done;
        write_file_atomically(done_marker(o, s.job), jobs[s.job - 1].text + "\n");
        if (!o.quiet)
          std::cerr << fmt::format("[{}/{}] job {} finished on {} in {:.1f} s\n", done + failed, todo.size(), s.job,
                                   s.device, secs);
      } else {
        ++failed;
        failures.push_back(fmt::format("job {} (line {}) {}; see {}", s.job, jobs[s.job - 1].line, describe_exit(st),
                                       log_file(o, s.job)));
        if (!o.quiet || forwarded == 0)
          std::cerr << fmt::format("[{}/{}] job {} on {} {} after {:.1f} s; see {}\n", done + failed, todo.size(),
                                   s.job, s.device, describe_exit(st), secs, log_file(o, s.job));
      }
    }
  }
  std::signal(SIGINT, prev_int);
  std::signal(SIGTERM, prev_term);
  std::cerr << fmt::format("scanlab sweep: {} finished, {} failed, {} not started; {} finished before\n", done, failed,
                           todo.size() - done - failed, skipped);
  if (forwarded != 0) return 128 + forwarded;
  for (const auto& f : failures) std::cerr << "scanlab sweep: " << f << "\n";
  return failed > 0 ? 1 : 0;
}

}  // namespace scanlab::dist
