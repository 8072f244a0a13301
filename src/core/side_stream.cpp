#include "core/side_stream.h"

#include "core/check.h"

#include <optional>

#ifdef SCANLAB_WITH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace scanlab {

#ifdef SCANLAB_WITH_CUDA
struct SideStream::Impl {
  c10::Device device{c10::kCPU};
  std::optional<c10::cuda::CUDAStream> side;  // drawn from the pool at the first CUDA mark
  at::cuda::CUDAEvent marked, done;
  bool pending = false;  // run() queued work that join() has not waited for
};
bool SideStream::available(const c10::Device& device) { return device.is_cuda(); }
#else
struct SideStream::Impl {
  c10::Device device{c10::kCPU};
};
bool SideStream::available(const c10::Device&) { return false; }
#endif

SideStream::SideStream() : impl_(std::make_unique<Impl>()) {}
SideStream::~SideStream() = default;
SideStream::SideStream(SideStream&&) noexcept = default;
SideStream& SideStream::operator=(SideStream&&) noexcept = default;

void SideStream::mark(const c10::Device& device) {
  impl_->device = device;
#ifdef SCANLAB_WITH_CUDA
  if (!available(device)) return;
  if (!impl_->side || impl_->side->device() != device) impl_->side = at::cuda::getStreamFromPool(false, device.index());
  impl_->marked.record(at::cuda::getCurrentCUDAStream(device.index()));
#endif
}

void SideStream::run(const std::function<void()>& work) {
#ifdef SCANLAB_WITH_CUDA
  if (available(impl_->device)) {
    SCANLAB_ASSERT(impl_->side.has_value());
    impl_->marked.block(*impl_->side);
    {
      c10::cuda::CUDAStreamGuard on_side(*impl_->side);
      work();
    }
    impl_->done.record(*impl_->side);
    impl_->pending = true;
    return;
  }
#endif
  work();
}

void SideStream::join() {
#ifdef SCANLAB_WITH_CUDA
  if (impl_->pending) {
    impl_->done.block(at::cuda::getCurrentCUDAStream(impl_->device.index()));
    impl_->pending = false;
  }
#endif
}

}  // namespace scanlab
