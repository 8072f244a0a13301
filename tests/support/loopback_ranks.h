// c10d ranks as threads of the test process on loopback Gloo (tests/dist/): a free port, the World
// of rank r, Gloo options with a timeout, a runner that joins every rank and turns an exception
// in one into a test failure naming the rank, and the check that the ranks' gradients add up.
#pragma once
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
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

// Sums the gradients of `params` over the ranks (one all-reduce; every rank calls it) and returns
// the largest error against `want` (one tensor per parameter), each relative to max(1, its max |want|).
inline double summed_gradient_error(Group& group, const std::vector<at::Tensor>& params,
                                    const std::vector<at::Tensor>& want) {
  auto max_abs = [](const at::Tensor& a) { return a.numel() ? a.abs().max().item<double>() : 0.0; };
  std::vector<at::Tensor> flat;
  for (const auto& p : params)
    flat.push_back(p.grad().defined() ? p.grad().reshape({-1}) : at::zeros({p.numel()}, p.options()));
  at::Tensor sum = at::cat(flat);
  group.wait(group.all_reduce_sum_async(sum, "gradient sum"));
  double worst = 0;
  int64_t offset = 0;
  for (size_t k = 0; k < params.size(); ++k) {
    const at::Tensor g = sum.narrow(0, offset, params[k].numel()).view_as(params[k]);
    offset += params[k].numel();
    worst = std::max(worst, max_abs(g - want[k]) / std::max(1.0, max_abs(want[k])));
  }
  return worst;
}

}  // namespace scanlab::dist
