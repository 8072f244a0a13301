// A fixed-shape call (a decode step, one Agg evaluation) as a CUDA graph. A streamed token costs
// dozens of small kernel launches whose host-side cost (dispatcher, allocator, launch) exceeds their
// GPU time at batch 1; a graph replays them as one launch from fixed addresses, with no allocation
// and no host work per call.
//
// The body must be replayable: a function of its inputs (device tensors of fixed shapes) and of
// state tensors it updates IN PLACE at fixed addresses, with no host synchronisation (no .item(),
// no data-dependent shapes) and no host-side decision that changes between calls. The first
// kWarmupCalls calls run the body eagerly (cuBLAS handles, allocator pools, lazy kernel loads); the
// next one captures it on a side stream and replays it; later ones copy their inputs into the
// graph's input buffers and replay. The result is copied out (a replay overwrites the graph's own
// output buffer); a body may return an undefined tensor when it only updates state.
//
// Off (the default), on a build without CUDA, or for CPU inputs, run() simply calls the body: the
// same code path, so CPU tests cover the body's arithmetic.
#pragma once
#include <ATen/ATen.h>

#include <functional>
#include <memory>
#include <vector>

namespace scanlab {

class CudaGraphCall {
 public:
  static constexpr int kWarmupCalls = 2;
  using Body = std::function<at::Tensor(const std::vector<at::Tensor>& inputs)>;

  CudaGraphCall();
  ~CudaGraphCall();
  CudaGraphCall(CudaGraphCall&&) noexcept;
  CudaGraphCall& operator=(CudaGraphCall&&) noexcept;

  void set_enabled(bool on);  // turning it off drops the graph
  bool enabled() const { return enabled_; }
  bool captured() const;  // whether run() is replaying a graph now
  void reset();           // drop the graph (its buffers moved, e.g. after a restore); warm up again

  at::Tensor run(const std::vector<at::Tensor>& inputs, const Body& body);

 private:
  struct Captured;
  bool enabled_ = false;
  int eager_calls_ = 0;
  std::unique_ptr<Captured> graph_;
};

// Whether this build can capture CUDA graphs (LibTorch with CUDA).
bool cuda_graphs_built();

}  // namespace scanlab
