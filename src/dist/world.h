// Where this process sits in a data-parallel job, read from the variables torchrun (and `scanlab train
// --nproc`) set: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT. Without WORLD_SIZE the
// process is a world of one. Every value is checked here, so a bad one is one line naming it.
#pragma once
#include <cstdint>
#include <string>

namespace scanlab::dist {

struct World {
  int rank = 0, size = 1, local_rank = 0;
  std::string master_addr;  // host of the TCPStore (rank 0 serves it)
  int master_port = 0;
  // torchrun's own store already listens at MASTER_PORT (TORCHELASTIC_USE_AGENT_STORE=True): rank 0
  // joins it instead of hosting one; keys go under the restart count (TORCHELASTIC_RESTART_COUNT).
  bool agent_store = false;
  int restart = 0;
  bool multi() const { return size > 1; }
};

// The world the environment describes; throws scanlab::Error naming the variable that is missing,
// malformed or out of range (RANK outside [0, WORLD_SIZE), a port outside 1..65535).
World world_from_env();

// "29500" -> 29500; throws naming `what` for anything but an integer in 1..65535.
int parse_port(const std::string& what, const std::string& value);

}  // namespace scanlab::dist
