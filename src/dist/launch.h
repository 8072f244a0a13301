// `scanlab train --nproc N`: N copies of this binary on this host (re-executed from /proc/self/exe),
// rank r with RANK=r, LOCAL_RANK=r, WORLD_SIZE=N, MASTER_ADDR (127.0.0.1 unless set) and MASTER_PORT
// (a free port unless set), as torchrun would start them.
#pragma once
#include <string>
#include <vector>

namespace scanlab::dist {

// A worker's command line: `argv` without --nproc and --threads (and their values), with
// `--threads threads` after the program name.
std::vector<std::string> worker_argv(const std::vector<std::string>& argv, int threads);

// Starts the workers and waits for them. SIGINT/SIGTERM are passed on (the workers save and stop
// together). A worker that fails is reported in one line naming its rank; workers still running
// `grace_s` seconds after a failure are killed, each named. Returns 0 when all succeed, the common
// exit code when all stopped alike (130/143 after a signal), else the first failure's code
// (128 + signal for a killed worker).
int launch_local(const std::vector<std::string>& worker_args, int nproc, double grace_s);

// This process's environment without the variables named in `drop`, as NAME=VALUE strings.
std::vector<std::string> environment_without(const std::vector<std::string>& drop);

// Starts this binary (/proc/self/exe, else args[0]) with `args` and the environment `env`; its
// stdout and stderr go to `log_path` (created or truncated) unless that is empty. The child dies
// with SIGTERM when this process dies. Returns its pid; throws scanlab::Error if fork fails.
// `who` names the child in a failure to start it ("rank 3", "job 7").
int spawn_self(const std::vector<std::string>& args, const std::vector<std::string>& env, const std::string& log_path,
               const std::string& who);

// "exited with code 2" / "was killed by signal 9 (Killed)", and the shell's exit code for a status.
std::string describe_exit(int status);
int exit_code_of(int status);

}  // namespace scanlab::dist
