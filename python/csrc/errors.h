// How C++ errors reach Python. scanlab::Error (bad input, with the C++ message) becomes ValueError;
// c10::ValueError / TypeError / IndexError keep their Python class; other c10::Error is RuntimeError
// without the C++ backtrace. Ops registered with the dispatcher (torch.ops.scanlab.*) rethrow
// scanlab::Error as c10::ValueError, which torch's own bindings turn into ValueError.
#pragma once
#include <utility>

#include <c10/util/Exception.h>

#include "core/check.h"

namespace scanlab::python {

// Runs f, turning scanlab::Error into c10::ValueError (same message) for the dispatcher.
template <class F>
auto as_torch_errors(F&& f) -> decltype(f()) {
  try {
    return std::forward<F>(f)();
  } catch (const scanlab::Error& e) {
    C10_THROW_ERROR(ValueError, e.what());
  }
}

}  // namespace scanlab::python
