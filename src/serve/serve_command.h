// `scanlab serve` as a library call: load a checkpoint, bind, serve until SIGINT or SIGTERM.
#pragma once
#include <c10/core/Device.h>

#include <ostream>
#include <string>

#include "serve/server.h"

namespace scanlab::serve {

struct ServeCommandOptions {
  std::string checkpoint;
  ServerOptions server;
};

// Prints "listening on http://HOST:PORT" to `log` once bound (port 0 picks a free port and the line
// says which), then blocks until SIGINT/SIGTERM, when it ends live requests and returns.
void run_serve_command(const ServeCommandOptions& opts, c10::Device device, std::ostream& log);

}  // namespace scanlab::serve
