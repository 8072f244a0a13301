// A second CUDA stream for work that may overlap the caller's. The caller marks a point on its own
// stream (mark), queues work that only needs what was queued before the mark (run), and later makes
// its stream wait for that work (join); the host never waits. On the CPU or in a build without CUDA
// run() simply calls the work and mark/join do nothing: the same code path, run in order.
//
// Allocator rule for callers: tensors the side work frees must not be reallocated by the caller's
// stream before join(), so queue the caller's own work (anything that allocates) between mark()
// and run(), not between run() and join().
#pragma once
#include <c10/core/Device.h>

#include <functional>
#include <memory>

namespace scanlab {

class SideStream {
 public:
  SideStream();
  ~SideStream();
  SideStream(SideStream&&) noexcept;
  SideStream& operator=(SideStream&&) noexcept;

  // Whether run() would use a second stream for work on `device` (a CUDA device in a CUDA build).
  static bool available(const c10::Device& device);

  void mark(const c10::Device& device);         // remembers the caller's stream position on `device`
  void run(const std::function<void()>& work);  // queues `work` on the side stream, after the mark
  void join();                                  // the caller's stream waits for everything run() queued

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace scanlab
