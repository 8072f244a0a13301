// A data-parallel process group on PyTorch's c10d: rank 0 hosts a TCPStore at MASTER_ADDR:MASTER_PORT,
// and ProcessGroupGloo (CPU tensors) or ProcessGroupNCCL (CUDA tensors) runs the collectives over it.
// Faults: every collective waits at most the group's timeout; a failure becomes a scanlab::Error
// that names the rank at fault, found from what each rank keeps in the store: a heartbeat (written by
// a thread every timeout/10, at most 1 s apart) with the count of collectives it has entered, and an
// error line a failing rank posts. A rank whose heartbeat stopped died or is stopped; a live rank
// behind in collectives hangs; a store that does not answer means rank 0 is gone.
// A world of one (the default constructor) makes every collective a no-op.
#pragma once
#include <ATen/ATen.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "dist/world.h"

namespace scanlab::dist {

struct GroupOptions {
  std::string backend = "auto";  // gloo | nccl | auto (nccl on CUDA, gloo on CPU)
  std::chrono::milliseconds timeout{std::chrono::seconds(120)};
};

// "auto" -> "nccl" on CUDA, "gloo" on CPU; throws naming the backend if it is unknown, cannot serve
// `device` (nccl on the CPU), or this build lacks it (NCCL needs a CUDA LibTorch with its headers).
std::string resolve_backend(const std::string& name, at::Device device);

class Group {
 public:
  struct Pending;  // a collective in flight

  Group();  // a world of one
  // Joins the world: rank 0 hosts the store; every rank waits up to the timeout for all to join.
  // Refuses (scanlab::Error) a port rank 0 cannot bind, ranks that disagree on WORLD_SIZE, a RANK two
  // processes claim, and ranks missing after the timeout, naming them.
  Group(const World& world, at::Device device, const GroupOptions& opts);
  ~Group();
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }
  const std::string& backend() const { return backend_; }

  // Sums `t` (on the group's device) over the ranks in place. `what` names the collective in errors.
  std::shared_ptr<Pending> all_reduce_sum_async(const at::Tensor& t, const std::string& what);
  void wait(const std::shared_ptr<Pending>& pending);
  enum class Reduce { Sum, Max };
  // A few host numbers reduced over the ranks (one collective, float64); every rank gets the result.
  std::vector<double> reduce_values(std::vector<double> values, Reduce op, const std::string& what);
  // Every rank's `t` (the same shape and dtype on every rank) stacked in rank order: [size, t's shape].
  at::Tensor all_gather(const at::Tensor& t, const std::string& what);
  // Copies root's tensors into every rank's.
  void broadcast(std::vector<at::Tensor> tensors, int root, const std::string& what);

  // Payload this rank handed to tensor collectives since the group started (the bytes of its own
  // tensors, not the backend's wire traffic): what docs/distributed.md's formulas count.
  struct Traffic {
    int64_t all_reduce_bytes = 0, all_gather_bytes = 0, collectives = 0;
  };
  const Traffic& traffic() const { return traffic_; }

  // Tells the other ranks why this one is about to stop, so their errors quote it. Never throws.
  void post_error(const std::string& message) noexcept;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
  int rank_ = 0, size_ = 1;
  std::string backend_ = "none";
  at::Device device_ = at::kCPU;
  Traffic traffic_;
};

}  // namespace scanlab::dist
