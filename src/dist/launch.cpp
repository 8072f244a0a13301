#include "dist/launch.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "core/check.h"
#include "dist/world.h"

extern char** environ;

namespace scanlab::dist {
namespace {

std::atomic<int> g_forward_signal{0};
extern "C" void on_launcher_signal(int sig) { g_forward_signal.store(sig); }

// A port nothing listens on now (the kernel's choice); rank 0 binds it a moment later.
int free_port(const std::string& addr) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  SCANLAB_CHECK(fd >= 0, "--nproc: cannot open a socket to find a free port: ", strerror(errno));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = 0;
  if (::inet_pton(AF_INET, addr.c_str(), &sa.sin_addr) != 1) sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0;
  const int err = errno;
  ::close(fd);
  SCANLAB_CHECK(ok, "--nproc: cannot find a free port on ", addr, ": ", strerror(err), " (set MASTER_PORT)");
  return ntohs(sa.sin_port);
}

}  // namespace

std::string describe_exit(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    return "was killed by signal " + std::to_string(sig) + " (" + strsignal(sig) + ")";
  }
  return "exited with code " + std::to_string(WEXITSTATUS(status));
}

int exit_code_of(int status) { return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status); }

std::vector<std::string> environment_without(const std::vector<std::string>& drop) {
  std::vector<std::string> out;
  for (char** e = environ; *e; ++e) {
    const std::string kv = *e;
    if (std::find(drop.begin(), drop.end(), kv.substr(0, kv.find('='))) == drop.end()) out.push_back(kv);
  }
  return out;
}

int spawn_self(const std::vector<std::string>& args, const std::vector<std::string>& env, const std::string& log_path,
               const std::string& who) {
  // Everything the child needs is built before fork: it only opens its log and calls execve.
  std::vector<char*> argv, envp;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& kv : env) envp.push_back(const_cast<char*>(kv.c_str()));
  envp.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
#ifdef __linux__
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // a launcher that dies takes its children along (they save first)
#endif
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    if (!log_path.empty()) {
      const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd < 0) {
        std::cerr << "scanlab: " << who << ": cannot write its log " << log_path << ": " << strerror(errno) << "\n";
        ::_exit(127);
      }
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    ::execve("/proc/self/exe", argv.data(), envp.data());
    ::execve(argv[0], argv.data(), envp.data());
    std::cerr << "scanlab: " << who << ": cannot start " << argv[0] << ": " << strerror(errno) << "\n";
    ::_exit(127);
  }
  SCANLAB_CHECK(pid > 0, "cannot start ", who, ": ", strerror(errno));
  return pid;
}

std::vector<std::string> worker_argv(const std::vector<std::string>& argv, int threads) {
  std::vector<std::string> out;
  if (argv.empty()) return out;
  out = {argv[0], "--threads", std::to_string(threads)};
  for (size_t i = 1; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a == "--") {
      out.insert(out.end(), argv.begin() + static_cast<std::ptrdiff_t>(i), argv.end());
      break;
    }
    if (a == "--nproc" || a == "--threads") {
      ++i;  // and its value
      continue;
    }
    if (a.rfind("--nproc=", 0) == 0 || a.rfind("--threads=", 0) == 0) continue;
    out.push_back(a);
  }
  return out;
}

int launch_local(const std::vector<std::string>& worker_args, int nproc, double grace_s) {
  SCANLAB_CHECK(nproc >= 1, "--nproc ", nproc, ": expected at least 1 process");
  const char* addr_env = std::getenv("MASTER_ADDR");
  const std::string addr = addr_env && *addr_env ? addr_env : "127.0.0.1";
  const char* port_env = std::getenv("MASTER_PORT");
  const int port = port_env ? parse_port("MASTER_PORT", port_env) : free_port(addr);

  const std::vector<std::string> base_env =
      environment_without({"RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"});
  g_forward_signal.store(0);
  auto prev_int = std::signal(SIGINT, on_launcher_signal);
  auto prev_term = std::signal(SIGTERM, on_launcher_signal);
  std::vector<pid_t> pids(static_cast<size_t>(nproc), -1);
  for (int r = 0; r < nproc; ++r) {
    std::vector<std::string> env = base_env;
    env.push_back("RANK=" + std::to_string(r));
    env.push_back("LOCAL_RANK=" + std::to_string(r));
    env.push_back("WORLD_SIZE=" + std::to_string(nproc));
    env.push_back("LOCAL_WORLD_SIZE=" + std::to_string(nproc));
    env.push_back("MASTER_ADDR=" + addr);
    env.push_back("MASTER_PORT=" + std::to_string(port));
    try {
      pids[static_cast<size_t>(r)] = spawn_self(worker_args, env, "", "rank " + std::to_string(r));
    } catch (const Error& e) {
      std::cerr << "scanlab: --nproc: " << e.what() << "\n";
      for (pid_t p : pids)
        if (p > 0) ::kill(p, SIGKILL);
      nproc = r;
      break;
    }
  }

  using Clock = std::chrono::steady_clock;
  std::vector<int> status(pids.size(), 0);
  int running = 0, first_failed = -1, forwarded = 0;
  for (pid_t p : pids) running += p > 0;
  Clock::time_point failed_at;
  while (running > 0) {
    if (const int sig = g_forward_signal.load(); sig != 0 && sig != forwarded) {
      for (size_t r = 0; r < pids.size(); ++r)
        if (pids[r] > 0) ::kill(pids[r], sig);
      forwarded = sig;
    }
    int st = 0;
    const pid_t pid = ::waitpid(-1, &st, WNOHANG);
    if (pid > 0) {
      for (size_t r = 0; r < pids.size(); ++r)
        if (pids[r] == pid) {
          pids[r] = -1;
          status[r] = st;
          --running;
          const bool ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
          const bool stopped_by_signal = forwarded != 0 && exit_code_of(st) == 128 + forwarded;
          if (!ok && !stopped_by_signal) {
            std::cerr << "scanlab: rank " << r << " " << describe_exit(st) << "\n";
            if (first_failed < 0) {
              first_failed = static_cast<int>(r);
              failed_at = Clock::now();
            }
          }
        }
      continue;
    }
    if (first_failed >= 0 && Clock::now() - failed_at > std::chrono::duration<double>(grace_s)) {
      for (size_t r = 0; r < pids.size(); ++r)
        if (pids[r] > 0) {
          std::cerr << "scanlab: rank " << r << " was still running " << grace_s << " s after rank " << first_failed
                    << " failed; killed\n";
          ::kill(pids[r], SIGKILL);
        }
      failed_at = Clock::now() + std::chrono::hours(24);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::signal(SIGINT, prev_int);
  std::signal(SIGTERM, prev_term);
  if (first_failed >= 0) return exit_code_of(status[static_cast<size_t>(first_failed)]);
  const int code = exit_code_of(status.empty() ? 0 : status[0]);
  for (int s : status)
    if (exit_code_of(s) != code) return exit_code_of(s) != 0 ? exit_code_of(s) : code;
  return code;
}

}  // namespace scanlab::dist
