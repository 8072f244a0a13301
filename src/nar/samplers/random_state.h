// The draws of numpy's legacy np.random.RandomState(seed), which CLRS samplers use: MT19937 seeded
// with init_genrand, 53-bit doubles from two 32-bit words, binomial by inversion, permutation by a
// Fisher-Yates shuffle with masked rejection. Matching it bit for bit means a scanlab dataset
// draws the same arrays and graphs as CLRS for the same seed (checked against numpy in the tests).
#pragma once
#include <cstdint>
#include <random>
#include <vector>

namespace scanlab::nar {

class RandomState {
 public:
  explicit RandomState(uint32_t seed) : mt_(seed) {}
  double random_sample();                                                             // U[0, 1)
  double uniform(double low = 0.0, double high = 1.0);                                // low + (high - low) * U
  std::vector<double> uniform_n(int64_t count, double low = 0.0, double high = 1.0);  // `count` draws
  int64_t bernoulli(double p);                                                        // binomial(1, p)
  std::vector<int64_t> permutation(int64_t n);
  uint64_t interval(uint64_t max);  // uniform integer in [0, max]

 private:
  std::mt19937 mt_;
};

}  // namespace scanlab::nar
