// c10d ranks as threads of the test process on loopback Gloo (tests/dist/): a free port, the World
// of rank r, Gloo options with a timeout, and a runner that joins every rank and turns an exception
// in one into a test failure naming the rank.
#pragma once
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <exception>
#include <functional>
#include <thread>
#include <vector>

#include "core/check.h"
#include "dist/group.h"

namespace scanlab::dist {

inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  ::close(fd);
  return ntohs(sa.sin_port);
}

inline World world(int rank, int port, int size = 2) { return {rank, size, rank, "127.0.0.1", port}; }

inline GroupOptions gloo(double seconds) {
  GroupOptions o;
  o.backend = "gloo";
  o.timeout = std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  return o;
}

inline bool have_gloo() {
  try {
    resolve_backend("gloo", at::kCPU);
    return true;
  } catch (const Error&) {
    return false;
  }
}

// Runs rank_main(r) for r = 0..size-1, rank 0 on this thread, and joins them.
inline void run_ranks(int size, const std::function<void(int)>& rank_main) {
  auto guarded = [&](int r) {
    try {
      rank_main(r);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "rank " << r << ": " << e.what();
    }
  };
  std::vector<std::thread> others;
  for (int r = 1; r < size; ++r) others.emplace_back(guarded, r);
  guarded(0);
  for (auto& t : others) t.join();
}

}  // namespace scanlab::dist
