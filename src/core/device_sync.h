// Waits for queued device work (a no-op on the CPU), so host clocks measure device time.
#pragma once
#include <c10/core/Device.h>

namespace scanlab {
void synchronize(c10::Device device);
}  // namespace scanlab
