// Gradient all-reduce for data parallelism, overlapped with the backward pass as DDP's reducer does:
// the parameters are cut into buckets of about `bucket_bytes` (one dtype and device each, in reverse
// registration order, which is roughly the order backward produces their gradients); a hook that runs
// after a parameter's gradient is accumulated copies it into its bucket, and a bucket whose gradients
// are all in starts its all-reduce at once, buckets in the same order on every rank. finish() starts
// any bucket a parameter without a gradient held back, waits, and writes the average over the ranks
// into each .grad, in the parameters' dtype.
// Gradient accumulation: only the backward after arm() reduces; earlier micro-batches accumulate locally.
// Every rank must see the same parameters take part (the same graph), as with DDP's defaults.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "dist/group.h"

namespace scanlab::dist {

class GradSync {
 public:
  GradSync(Group& group, std::vector<at::Tensor> params, int64_t bucket_bytes);
  ~GradSync();  // removes the hooks
  GradSync(const GradSync&) = delete;
  GradSync& operator=(const GradSync&) = delete;

  void arm();     // the next backward pass reduces
  void finish();  // after that backward: every .grad holds the average over the ranks
  int64_t num_buckets() const { return static_cast<int64_t>(buckets_.size()); }
  // Buckets whose all-reduce the last reduced backward pass started itself (the rest began in finish()).
  int64_t started_in_backward() const { return started_in_backward_; }

 private:
  struct Slot {
    size_t bucket = 0;
    int64_t offset = 0;
    bool ready = false;
  };
  struct Bucket {
    at::Tensor flat;  // [sum of numels] in the parameters' dtype and device
    std::vector<size_t> params;
    size_t missing = 0;
    std::shared_ptr<Group::Pending> pending;
  };
  void on_grad_ready(size_t param);
  void fill(size_t param);
  void launch_ready();

  Group& group_;
  std::vector<at::Tensor> params_;
  std::vector<Slot> slots_;
  std::vector<Bucket> buckets_;
  size_t next_ = 0;  // first bucket not yet started
  bool armed_ = false, in_finish_ = false;
  int64_t started_in_backward_ = 0;
  std::vector<std::pair<std::shared_ptr<void>, uintptr_t>> hooks_;  // (grad accumulator, hook key)
};

}  // namespace scanlab::dist
