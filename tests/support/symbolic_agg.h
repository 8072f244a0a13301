// A symbolic Agg over expression strings for the scan engine's tests: Agg(a, b) = "(a.b)", so a
// scan's outputs spell out its bracketing and `made` lists every expression an Agg call built.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "scan/agg.h"
#include "scan/online_scanner.h"

namespace scanlab::scan {

template <>
struct StateBytes<std::string> {
  static int64_t of(const std::string& s) { return static_cast<int64_t>(s.size()); }
};

// Builds "(a.b)"; counts every batched call it receives and keeps what each pair made.
struct Symbolic {
  int64_t calls = 0;
  std::vector<std::string> made;
  BatchedAgg<std::string> agg() {
    return [this](const std::vector<std::string>& a, const std::vector<std::string>& b) {
      ++calls;
      std::vector<std::string> out;
      for (size_t i = 0; i < a.size(); ++i) out.push_back("(" + a[i] + "." + b[i] + ")");
      made.insert(made.end(), out.begin(), out.end());
      return out;
    };
  }
};

// "x<first>" .. "x<first+n-1>"
inline std::vector<std::string> symbols(int64_t n, int64_t first = 0) {
  std::vector<std::string> xs;
  for (int64_t i = first; i < first + n; ++i) xs.push_back("x" + std::to_string(i));
  return xs;
}

}  // namespace scanlab::scan
