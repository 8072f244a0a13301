// Sorting: CLRS insertion_sort and bubble_sort (one hint per inner step), odd-even transposition
// sort (a linear processor array: all disjoint neighbour pairs compare-exchange at once, 2 ceil(n/2)
// phases, Engelmayer et al. 2023) and parallel rank sort (every pair compared in one PRAM step).
// Outputs are predecessor pointers of the sorted order (rank sort: the rank of every node).
#include <algorithm>

#include "core/check.h"
#include "nar/algorithms/algorithms.h"

namespace scanlab::nar {
namespace {

constexpr Stage In = Stage::Input, Out = Stage::Output, H = Stage::Hint;
constexpr Location N = Location::Node, E = Location::Edge, G = Location::Graph;

// Insertion and bubble sort share the spec and the first hint: identity order, i = j = node 0.
ProbeRecorder start_pairwise(const char* name, const std::vector<double>& keys) {
  auto rec = start_on_keys(name, insertion_sort_spec(), keys);
  const auto n = static_cast<int64_t>(keys.size());
  rec.push(
      H,
      {{"pred_h", probe::array_order(probe::identity(n))}, {"i", probe::mask_one(0, n)}, {"j", probe::mask_one(0, n)}});
  return rec;
}

}  // namespace

Spec insertion_sort_spec() {
  return {{"pos", In, N, Type::Scalar},    {"key", In, N, Type::Scalar}, {"pred", Out, N, Type::ShouldBePermutation},
          {"pred_h", H, N, Type::Pointer}, {"i", H, N, Type::MaskOne},   {"j", H, N, Type::MaskOne}};
}

Trajectory insertion_sort(const std::vector<double>& keys) {
  auto rec = start_pairwise("insertion_sort", keys);
  auto a = keys;
  const auto n = static_cast<int64_t>(a.size());
  auto a_pos = probe::identity(n);
  for (int64_t j = 1; j < n; ++j) {
    const double key = a[j];
    int64_t i = j - 1;
    while (i >= 0 && a[i] > key) {
      a[i + 1] = a[i];
      a_pos[i + 1] = a_pos[i];
      --i;
    }
    a[i + 1] = key;
    const int64_t displaced = a_pos[i + 1];  // the node that held the insertion slot (CLRS's `i`)
    a_pos[i + 1] = j;
    rec.push(
        H, {{"pred_h", probe::array_order(a_pos)}, {"i", probe::mask_one(displaced, n)}, {"j", probe::mask_one(j, n)}});
  }
  rec.push(Out, {{"pred", probe::array_order(a_pos)}});
  return rec.finalize();
}

Trajectory bubble_sort(const std::vector<double>& keys) {
  auto rec = start_pairwise("bubble_sort", keys);
  auto a = keys;
  const auto n = static_cast<int64_t>(a.size());
  auto a_pos = probe::identity(n);
  for (int64_t i = 0; i + 1 < n; ++i) {
    for (int64_t j = n - 1; j > i; --j) {
      if (a[j] < a[j - 1]) {
        std::swap(a[j], a[j - 1]);
        std::swap(a_pos[j], a_pos[j - 1]);
      }
      rec.push(H, {{"pred_h", probe::array_order(a_pos)},
                   {"i", probe::mask_one(a_pos[i], n)},
                   {"j", probe::mask_one(a_pos[j], n)}});
    }
  }
  rec.push(Out, {{"pred", probe::array_order(a_pos)}});
  return rec.finalize();
}

Spec odd_even_transposition_sort_spec() {
  return {{"pos", In, N, Type::Scalar}, {"key", In, N, Type::Scalar},      {"pred", Out, N, Type::ShouldBePermutation},
          {"round", H, G, Type::Mask},  {"permutation", H, E, Type::Mask}, {"pred_h", H, N, Type::Pointer}};
}

Trajectory odd_even_transposition_sort(const std::vector<double>& keys, SwapIndexing indexing) {
  auto rec = start_on_keys(
      indexing == SwapIndexing::Position ? "odd_even_transposition_sort" : "odd_even_transposition_sort_by_node",
      odd_even_transposition_sort_spec(), keys);
  auto a = keys;
  const auto n = static_cast<int64_t>(a.size());
  auto a_pos = probe::identity(n);
  // One phase compares the disjoint pairs (first, first + 1), (first + 2, first + 3), ... at once.
  // The hint shows the order before the phase and the swaps it performs.
  auto phase = [&](int64_t first, double round) {
    std::vector<double> swaps(static_cast<size_t>(n * n), 0.0);
    for (int64_t i = 0; i < n; ++i) swaps[i * n + i] = 1.0;
    std::vector<std::pair<int64_t, int64_t>> swapped;
    for (int64_t p = first; p + 1 < n; p += 2)
      if (a[p] > a[p + 1]) swapped.emplace_back(p, p + 1);
    for (auto [p, q] : swapped) {
      const int64_t u = indexing == SwapIndexing::Position ? p : a_pos[p];
      const int64_t v = indexing == SwapIndexing::Position ? q : a_pos[q];
      swaps[u * n + u] = swaps[v * n + v] = 0.0;
      swaps[u * n + v] = swaps[v * n + u] = 1.0;
    }
    rec.push(H, {{"pred_h", probe::array_order(a_pos)},
                 {"round", probe::scalar(round)},
                 {"permutation", probe::matrix(swaps, n)}});
    for (auto [p, q] : swapped) {
      std::swap(a[p], a[q]);
      std::swap(a_pos[p], a_pos[q]);
    }
  };
  for (int64_t r = 0; r < (n + 1) / 2; ++r) {
    phase(1, 1.0);  // "odd" phase: positions (1, 2), (3, 4), ...
    phase(0, 0.0);  // "even" phase: positions (0, 1), (2, 3), ...
  }
  rec.push(Out, {{"pred", probe::array_order(a_pos)}});
  return rec.finalize();
}

Spec parallel_rank_sort_spec() {
  return {{"pos", In, N, Type::Scalar},
          {"key", In, N, Type::Scalar},
          {"rank", Out, N, Type::ShouldBePermutation},
          {"less_than", H, E, Type::Mask}};
}

Trajectory parallel_rank_sort(const std::vector<double>& keys) {
  auto rec = start_on_keys("parallel_rank_sort", parallel_rank_sort_spec(), keys);
  const auto n = static_cast<int64_t>(keys.size());
  // One step: every ordered pair (i, j) compares at once; a column sum is a rank.
  std::vector<double> less(static_cast<size_t>(n * n), 0.0);
  std::vector<int64_t> rank(static_cast<size_t>(n), 0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      if (keys[i] < keys[j]) {
        less[i * n + j] = 1.0;
        ++rank[j];
      }
  rec.push(H, {{"less_than", probe::matrix(less, n)}});
  rec.push(Out, {{"rank", probe::pointers(rank)}});
  return rec.finalize();
}

}  // namespace scanlab::nar
