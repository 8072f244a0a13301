#include "core/cuda_graph_call.h"

#include "core/check.h"

#ifdef SCANLAB_WITH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace scanlab {

#ifdef SCANLAB_WITH_CUDA
struct CudaGraphCall::Captured {
  at::cuda::CUDAGraph graph;
  std::vector<at::Tensor> inputs;  // static: copied into before each replay
  at::Tensor out;                  // static: the body's result inside the graph (may be undefined)
};
bool cuda_graphs_built() { return true; }
#else
struct CudaGraphCall::Captured {};
bool cuda_graphs_built() { return false; }
#endif

CudaGraphCall::CudaGraphCall() = default;
CudaGraphCall::~CudaGraphCall() = default;
CudaGraphCall::CudaGraphCall(CudaGraphCall&&) noexcept = default;
CudaGraphCall& CudaGraphCall::operator=(CudaGraphCall&&) noexcept = default;

void CudaGraphCall::set_enabled(bool on) {
  enabled_ = on;
  if (!on) reset();
}

bool CudaGraphCall::captured() const { return graph_ != nullptr; }

void CudaGraphCall::reset() {
  graph_.reset();
  eager_calls_ = 0;
}

at::Tensor CudaGraphCall::run(const std::vector<at::Tensor>& inputs, const Body& body) {
#ifdef SCANLAB_WITH_CUDA
  if (enabled_ && !inputs.empty() && inputs.front().is_cuda()) {
    auto result = [](const at::Tensor& out) { return out.defined() ? out.clone() : at::Tensor(); };
    if (graph_) {
      SCANLAB_CHECK(inputs.size() == graph_->inputs.size(), "CUDA graph call: ", inputs.size(),
                    " inputs; the graph was captured with ", graph_->inputs.size());
      for (size_t i = 0; i < inputs.size(); ++i) {
        SCANLAB_CHECK(inputs[i].sizes() == graph_->inputs[i].sizes(), "CUDA graph call: input ", i, " is ",
                      inputs[i].sizes(), "; the graph was captured for ", graph_->inputs[i].sizes());
        graph_->inputs[i].copy_(inputs[i]);
      }
      graph_->graph.replay();
      return result(graph_->out);
    }
    if (eager_calls_ < kWarmupCalls) {
      ++eager_calls_;
      return body(inputs);
    }
    auto g = std::make_unique<Captured>();
    for (const auto& x : inputs) g->inputs.push_back(x.clone());
    // Capture is not allowed on the legacy default stream: capture on a side stream that first
    // waits for everything queued so far, and make the caller's stream wait for the capture.
    const auto device = inputs.front().device().index();
    const auto caller = at::cuda::getCurrentCUDAStream(device);
    const auto side = at::cuda::getStreamFromPool(false, device);
    at::cuda::CUDAEvent queued;
    queued.record(caller);
    queued.block(side);
    {
      c10::cuda::CUDAStreamGuard on_side(side);
      g->graph.capture_begin();
      g->out = body(g->inputs);
      g->graph.capture_end();
    }
    at::cuda::CUDAEvent done;
    done.record(side);
    done.block(caller);
    graph_ = std::move(g);
    graph_->graph.replay();  // capturing recorded the call without running it
    return result(graph_->out);
  }
#endif
  return body(inputs);
}

}  // namespace scanlab
