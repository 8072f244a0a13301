// Searching: CLRS binary_search and minimum (sequential), and parallel_search (Engelmayer et al. 2023):
// every cell compares itself with the target in one step, on n + 1 nodes (the extra one holds x).
#include <algorithm>

#include "core/check.h"
#include "nar/algorithms/algorithms.h"

namespace scanlab::nar {
namespace {

constexpr Stage In = Stage::Input, Out = Stage::Output, H = Stage::Hint;
constexpr Location N = Location::Node, G = Location::Graph;

void check_sorted(const std::vector<double>& a, const char* who) {
  SCANLAB_CHECK(!a.empty(), who, ": needs at least one key");
  SCANLAB_CHECK(std::is_sorted(a.begin(), a.end()), who, ": keys must be sorted ascending");
}

}  // namespace

Spec binary_search_spec() {
  return {{"pos", In, N, Type::Scalar},      {"key", In, N, Type::Scalar},    {"target", In, G, Type::Scalar},
          {"return", Out, N, Type::MaskOne}, {"pred_h", H, N, Type::Pointer}, {"low", H, N, Type::MaskOne},
          {"high", H, N, Type::MaskOne},     {"mid", H, N, Type::MaskOne}};
}

Trajectory binary_search(const std::vector<double>& a, double x) {
  check_sorted(a, "binary_search");
  const auto n = static_cast<int64_t>(a.size());
  ProbeRecorder rec("binary_search", binary_search_spec(), n);
  rec.push(In,
           {{"pos", probe::values(probe::positions(n, n))}, {"key", probe::values(a)}, {"target", probe::scalar(x)}});
  const auto order = probe::array_order(probe::identity(n));
  auto push_hint = [&](int64_t low, int64_t high) {
    rec.push(H, {{"pred_h", order},
                 {"low", probe::mask_one(low, n)},
                 {"high", probe::mask_one(high, n)},
                 {"mid", probe::mask_one((low + high) / 2, n)}});
  };
  // Finds the first index with x <= A[i], clamped to n - 1 so the answer is always a node.
  int64_t low = 0, high = n - 1;
  push_hint(low, high);
  while (low < high) {
    const int64_t mid = (low + high) / 2;
    if (x <= a[mid]) {
      high = mid;
    } else {
      low = mid + 1;
    }
    push_hint(low, high);
  }
  rec.push(Out, {{"return", probe::mask_one(high, n)}});
  return rec.finalize();
}

Spec minimum_spec() {
  return {{"pos", In, N, Type::Scalar},    {"key", In, N, Type::Scalar},   {"min", Out, N, Type::MaskOne},
          {"pred_h", H, N, Type::Pointer}, {"min_h", H, N, Type::MaskOne}, {"i", H, N, Type::MaskOne}};
}

Trajectory minimum(const std::vector<double>& a) {
  auto rec = start_on_keys("minimum", minimum_spec(), a);
  const auto n = static_cast<int64_t>(a.size());
  const auto order = probe::array_order(probe::identity(n));
  int64_t best = 0;
  rec.push(H, {{"pred_h", order}, {"min_h", probe::mask_one(0, n)}, {"i", probe::mask_one(0, n)}});
  for (int64_t i = 1; i < n; ++i) {
    if (a[best] > a[i]) best = i;
    rec.push(H, {{"pred_h", order}, {"min_h", probe::mask_one(best, n)}, {"i", probe::mask_one(i, n)}});
  }
  rec.push(Out, {{"min", probe::mask_one(best, n)}});
  return rec.finalize();
}

Spec parallel_search_spec() {
  return {{"pos", In, N, Type::Scalar},
          {"key", In, N, Type::Scalar},
          {"target", In, G, Type::Scalar},
          {"return", Out, G, Type::Pointer},
          {"leq_target", H, N, Type::Mask}};
}

Trajectory parallel_search(const std::vector<double>& a, double x) {
  check_sorted(a, "parallel_search");
  const auto n = static_cast<int64_t>(a.size());
  ProbeRecorder rec("parallel_search", parallel_search_spec(), n + 1);
  auto keys = a;
  keys.push_back(x);  // node n holds the target
  rec.push(
      In,
      {{"pos", probe::values(probe::positions(n + 1, n))}, {"key", probe::values(keys)}, {"target", probe::scalar(x)}});
  // One parallel step: every cell compares itself with x; the target node stays 0.
  std::vector<double> leq(static_cast<size_t>(n + 1), 0.0);
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) {
    leq[i] = a[i] <= x ? 1.0 : 0.0;
    count += a[i] <= x;
  }
  rec.push(H, {{"leq_target", probe::values(leq)}});
  // The insertion position of x: the first cell above x, or the target node when x is largest.
  rec.push(Out, {{"return", probe::scalar(static_cast<double>(count))}});
  return rec.finalize();
}

}  // namespace scanlab::nar
