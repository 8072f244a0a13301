// The message of the scanlab::Error that `fn` throws, or "" when it throws none: tests match the
// words a user would read.
#pragma once
#include <functional>
#include <string>

#include "core/check.h"

namespace scanlab::testing {

inline std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace scanlab::testing
