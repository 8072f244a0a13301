// Helpers for the nar tests: reading pointer orders, independent oracles, running numpy.
#pragma once
#include <unistd.h>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/check.h"
#include "nar/probes.h"

namespace scanlab::nar::testing {

// Node indices of an order given by predecessor pointers (the first points to itself).
inline std::vector<int64_t> order_from_pred(const std::vector<double>& pred) {
  const auto n = static_cast<int64_t>(pred.size());
  std::vector<int64_t> succ(static_cast<size_t>(n), -1);
  int64_t head = -1;
  for (int64_t i = 0; i < n; ++i) {
    const auto p = static_cast<int64_t>(pred[i]);
    if (p == i) {
      head = i;
    } else {
      succ[p] = i;
    }
  }
  std::vector<int64_t> order;
  for (int64_t v = head; v >= 0 && static_cast<int64_t>(order.size()) <= n; v = succ[v]) order.push_back(v);
  return order;
}

// One hint snapshot (step s) of a trajectory's hint `name`.
inline std::vector<double> hint_at(const Trajectory& t, const std::string& name, int64_t s) {
  const auto& v = t.get(name).value;
  const int64_t per = v.numel() / t.length;
  return {v.data.begin() + s * per, v.data.begin() + (s + 1) * per};
}

inline int64_t argmax(const std::vector<double>& v) {
  int64_t best = 0;
  for (int64_t i = 1; i < static_cast<int64_t>(v.size()); ++i)
    if (v[i] > v[best]) best = i;
  return best;
}

// True when /usr/bin/python3 can import numpy.
inline bool python_numpy_available() { return std::system("/usr/bin/python3 -c 'import numpy' > /dev/null 2>&1") == 0; }

// Runs a Python script with /usr/bin/python3; returns its stdout, and the exit status in *status.
inline std::string run_python(const std::string& script, int* status) {
  // One file per process and call: ctest runs test cases in parallel processes.
  static int calls = 0;
  const std::string path = std::string(::testing::TempDir()) + "/nar_test_script_" + std::to_string(::getpid()) + "_" +
                           std::to_string(calls++) + ".py";
  FILE* f = std::fopen(path.c_str(), "w");
  std::fputs(script.c_str(), f);
  std::fclose(f);
  FILE* p = popen(("/usr/bin/python3 " + path + " 2>&1").c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t k = std::fread(buf, 1, sizeof buf, p)) out.append(buf, k);
  *status = pclose(p);
  std::remove(path.c_str());
  return out;
}

}  // namespace scanlab::nar::testing
