// Counter-based random numbers for data generators: example i of a split is drawn from its own
// stream seeded by (seed, i), so any example can be regenerated alone, batches can be read in any
// order, and a resumed run needs only the sample counter. SplitMix64 (Steele et al. 2014) mixes
// the seed; draws are exact (rejection, no modulo bias) and identical on every platform, unlike
// std:: distributions.
#pragma once
#include <cstdint>
#include <vector>

#include "core/check.h"

namespace scanlab::tasks {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  // The stream for example `index` of a data set seeded with `seed`.
  static Rng for_example(uint64_t seed, uint64_t index) { return Rng(splitmix64(splitmix64(seed) ^ index)); }

  uint64_t next() {
    state_ += 0x9E3779B97F4A7C15ULL;
    uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform integer in [0, n), n >= 1.
  int64_t below(int64_t n) {
    SCANLAB_ASSERT(n >= 1);
    const uint64_t un = static_cast<uint64_t>(n);
    const uint64_t limit = UINT64_MAX - UINT64_MAX % un;  // reject the biased tail
    uint64_t r;
    do r = next();
    while (r >= limit);
    return static_cast<int64_t>(r % un);
  }
  // Uniform double in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }

 private:
  uint64_t state_;
};

// A random permutation of 0..n-1 (Fisher-Yates), used for per-epoch shuffles.
inline std::vector<int64_t> random_permutation(int64_t n, Rng& rng) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[static_cast<size_t>(i)] = i;
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[static_cast<size_t>(i)], p[static_cast<size_t>(rng.below(i + 1))]);
  return p;
}

}  // namespace scanlab::tasks
