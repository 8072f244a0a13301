// Prefix sums as a task family (output `prefix`[i] = key[0] + ... + key[i]):
//   prefix_sum               sequential fold, one element per step: T = n.
//   prefix_sum_hillis_steele every node adds the value `stride` to its left, stride 1, 2, 4, ...:
//                            T = 1 + ceil(log2 n), O(n log n) work.
//   prefix_sum_blelloch      up-sweep (reduce tree), clear the root, down-sweep: exclusive sums in
//                            T = 2 ceil(log2 n) + 2 hints, O(n) work; the output adds the own key.
// Blelloch on n that is not a power of two: the array is padded at the *front* to P = 2^L with
// virtual zeros. A virtual node is only ever a left child, so every operation whose sender is
// virtual leaves the real nodes unchanged and is skipped: all state lives on the n real nodes.
#include "core/check.h"
#include "nar/algorithms/algorithms.h"

namespace scanlab::nar {
namespace {

constexpr Stage In = Stage::Input, Out = Stage::Output, H = Stage::Hint;
constexpr Location N = Location::Node, G = Location::Graph;

Spec with_hints(Spec hints) {
  Spec s{{"pos", In, N, Type::Scalar},
         {"key", In, N, Type::Scalar},
         {"prefix", Out, N, Type::Scalar},
         {"acc", H, N, Type::Scalar}};
  s.insert(s.end(), hints.begin(), hints.end());
  return s;
}

}  // namespace

Spec prefix_sum_spec() { return with_hints({{"i", H, N, Type::MaskOne}}); }
Spec prefix_sum_hillis_steele_spec() { return with_hints({{"partner", H, N, Type::Pointer}}); }
Spec prefix_sum_blelloch_spec() { return with_hints({{"partner", H, N, Type::Pointer}, {"phase", H, G, Type::Mask}}); }

Trajectory prefix_sum(const std::vector<double>& keys) {
  auto rec = start_on_keys("prefix_sum", prefix_sum_spec(), keys);
  const auto n = static_cast<int64_t>(keys.size());
  auto acc = keys;
  rec.push(H, {{"acc", probe::values(acc)}, {"i", probe::mask_one(0, n)}});
  for (int64_t i = 1; i < n; ++i) {
    acc[i] += acc[i - 1];
    rec.push(H, {{"acc", probe::values(acc)}, {"i", probe::mask_one(i, n)}});
  }
  rec.push(Out, {{"prefix", probe::values(acc)}});
  return rec.finalize();
}

Trajectory prefix_sum_hillis_steele(const std::vector<double>& keys) {
  auto rec = start_on_keys("prefix_sum_hillis_steele", prefix_sum_hillis_steele_spec(), keys);
  const auto n = static_cast<int64_t>(keys.size());
  auto acc = keys;
  rec.push(H, {{"acc", probe::values(acc)}, {"partner", probe::pointers(probe::identity(n))}});
  for (int64_t stride = 1; stride < n; stride *= 2) {
    auto partner = probe::identity(n);
    auto next = acc;
    for (int64_t i = stride; i < n; ++i) {
      next[i] = acc[i - stride] + acc[i];
      partner[i] = i - stride;
    }
    acc.swap(next);
    rec.push(H, {{"acc", probe::values(acc)}, {"partner", probe::pointers(partner)}});
  }
  rec.push(Out, {{"prefix", probe::values(acc)}});
  return rec.finalize();
}

Trajectory prefix_sum_blelloch(const std::vector<double>& keys) {
  auto rec = start_on_keys("prefix_sum_blelloch", prefix_sum_blelloch_spec(), keys);
  const auto n = static_cast<int64_t>(keys.size());
  int64_t padded = 1;
  while (padded < n) padded *= 2;
  const int64_t pad = padded - n;  // virtual zeros in front: padded index p is real node p - pad
  auto acc = keys;
  auto push = [&](const std::vector<int64_t>& partner, double phase) {
    rec.push(H, {{"acc", probe::values(acc)}, {"partner", probe::pointers(partner)}, {"phase", probe::scalar(phase)}});
  };
  push(probe::identity(n), 0.0);
  // 1. up-sweep: the right end of every block of width 2d adds its left half's sum
  for (int64_t d = 1; d < padded; d *= 2) {
    auto partner = probe::identity(n);
    for (int64_t k = 0; k < padded; k += 2 * d) {
      const int64_t s = k + d - 1, r = k + 2 * d - 1;
      if (s < pad) continue;
      acc[r - pad] += acc[s - pad];
      partner[r - pad] = s - pad;
    }
    push(partner, 0.0);
  }
  // 2. the root (the last node) starts the down-sweep with the empty sum
  acc[n - 1] = 0.0;
  push(probe::identity(n), 1.0);
  // 3. down-sweep: the left child takes its parent's prefix, the right adds the left's old sum
  for (int64_t d = padded / 2; d >= 1; d /= 2) {
    auto partner = probe::identity(n);
    for (int64_t k = 0; k < padded; k += 2 * d) {
      const int64_t s = k + d - 1, r = k + 2 * d - 1;
      if (s < pad) continue;
      const double left = acc[s - pad];
      acc[s - pad] = acc[r - pad];
      acc[r - pad] += left;
      partner[s - pad] = r - pad;
      partner[r - pad] = s - pad;
    }
    push(partner, 1.0);
  }
  std::vector<double> inclusive(acc.size());
  for (int64_t i = 0; i < n; ++i) inclusive[i] = acc[i] + keys[i];
  rec.push(Out, {{"prefix", probe::values(inclusive)}});
  return rec.finalize();
}

}  // namespace scanlab::nar
