// A fresh, empty folder under the system's temp directory, named for the test and this process, so
// parallel ctest processes never share one.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <string>

namespace scanlab::testing {

inline std::filesystem::path fresh_temp_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("scanlab_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace scanlab::testing
