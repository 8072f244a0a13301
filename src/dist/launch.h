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

}  // namespace scanlab::dist
