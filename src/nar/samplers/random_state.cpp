// numpy legacy RandomState draws (numpy/random/src/legacy and distributions.c), re-derived.
#include "nar/samplers/random_state.h"

#include <cmath>

#include "core/check.h"

namespace scanlab::nar {

double RandomState::random_sample() {
  const uint32_t a = mt_() >> 5, b = mt_() >> 6;
  return (a * 67108864.0 + b) / 9007199254740992.0;
}

double RandomState::uniform(double low, double high) { return low + (high - low) * random_sample(); }

std::vector<double> RandomState::uniform_n(int64_t count, double low, double high) {
  std::vector<double> v(static_cast<size_t>(count));
  for (auto& x : v) x = uniform(low, high);
  return v;
}

int64_t RandomState::bernoulli(double p) {
  SCANLAB_CHECK(p >= 0.0 && p <= 1.0, "binomial probability ", p, " is outside [0, 1]");
  // numpy inverts the smaller tail: for p > 1/2 it returns 1 - binomial(1, 1 - p).
  const bool flip = p > 0.5;
  const double pp = flip ? 1.0 - p : p, q = 1.0 - pp;
  const double qn = std::exp(1.0 * std::log(q));  // P(X = 0), computed as numpy does
  // numpy's inversion loop with n = 1 (bound 1): a draw that rounds past both cells starts over.
  int64_t x = 0;
  double px = qn, u = random_sample();
  while (u > px) {
    ++x;
    if (x > 1) {
      x = 0;
      px = qn;
      u = random_sample();
    } else {
      u -= px;
      px = (1.0 * pp * px) / (1.0 * q);
    }
  }
  return flip ? 1 - x : x;
}

uint64_t RandomState::interval(uint64_t max) {
  if (max == 0) return 0;
  uint64_t mask = max;
  for (int s = 1; s <= 32; s *= 2) mask |= mask >> s;
  SCANLAB_CHECK(max <= 0xffffffffULL, "random interval ", max, " is above 2^32 - 1");
  uint64_t value;
  while ((value = (mt_() & mask)) > max) {
  }
  return value;
}

std::vector<int64_t> RandomState::permutation(int64_t n) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[i] = i;
  for (int64_t i = n - 1; i >= 1; --i) std::swap(p[i], p[interval(static_cast<uint64_t>(i))]);
  return p;
}

}  // namespace scanlab::nar
