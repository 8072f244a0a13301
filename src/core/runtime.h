// Process-wide runtime choices shared by every subcommand: device, CPU threads, seed.
#pragma once
#include <c10/core/Device.h>
#include <cstdint>
#include <string>

namespace scanlab {

struct RuntimeOptions {
  std::string device = "auto";  // cpu | cuda | auto (cuda when available)
  int threads = 0;              // 0: all hardware threads (Debian's torch defaults to 1)
  uint64_t seed = 0;
};

// Parses "cpu", "cuda", "cuda:N" or "auto"; throws scanlab::Error naming the value otherwise,
// and when cuda is asked for on a machine without it.
c10::Device resolve_device(const std::string& name);

// Applies threads and seed to torch; returns the device to use.
c10::Device apply_runtime(const RuntimeOptions& opts);

int hardware_threads();

}  // namespace scanlab
