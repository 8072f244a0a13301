// Samplers draw what numpy's RandomState draws for the same seed (checked by running numpy), and
// the community graph equals CLRS's construction written in numpy.
#include <gtest/gtest.h>

#include <sstream>

#include "nar/samplers/samplers.h"
#include "support/nar_test_util.h"

namespace scanlab::nar {
namespace {

std::vector<double> parse_numbers(const std::string& text) {
  std::istringstream is(text);
  std::vector<double> v;
  std::string tok;
  while (is >> tok) v.push_back(std::stod(tok));
  return v;
}

TEST(NarSamplers, RandomStateMatchesNumpy) {
  if (!testing::python_numpy_available()) GTEST_SKIP() << "/usr/bin/python3 has no numpy (apt install python3-numpy)";
  int status = 0;
  const auto out = testing::run_python(R"(
import numpy as np
r = np.random.RandomState(42)
vals = list(r.uniform(size=7)) + list(r.binomial(1, 0.5, size=(5, 5)).ravel()) + \
       list(r.binomial(1, 0.01, size=300)) + list(r.binomial(1, 0.8, size=40)) + list(r.permutation(23)) + \
       [r.uniform(low=-1.0, high=2.0)]
print(' '.join(repr(float(v)) for v in vals))
)",
                                       &status);
  ASSERT_EQ(status, 0) << out;
  const auto expected = parse_numbers(out);
  RandomState r(42);
  std::vector<double> got = r.uniform_n(7);
  for (int i = 0; i < 25; ++i) got.push_back(static_cast<double>(r.bernoulli(0.5)));
  for (int i = 0; i < 300; ++i) got.push_back(static_cast<double>(r.bernoulli(0.01)));
  for (int i = 0; i < 40; ++i) got.push_back(static_cast<double>(r.bernoulli(0.8)));
  for (auto p : r.permutation(23)) got.push_back(static_cast<double>(p));
  got.push_back(r.uniform(-1.0, 2.0));
  EXPECT_EQ(got, expected);
}

TEST(NarSamplers, CommunityGraphMatchesClrsConstructionInNumpy) {
  if (!testing::python_numpy_available()) GTEST_SKIP() << "/usr/bin/python3 has no numpy (apt install python3-numpy)";
  // CLRS samplers.py _random_community_graph(directed=True), written out for the test.
  int status = 0;
  const auto out = testing::run_python(R"(
import numpy as np
def community(rng, n, k=4, p=0.5, eps=0.01):
    mat = np.zeros((n, n)); los, his = [], []; lo = 0
    for i in range(k):
        hi = n if i == k - 1 else lo + n // k
        mat[lo:hi, lo:hi] = rng.binomial(1, p, size=(hi - lo, hi - lo))
        los.append(lo); his.append(hi); lo = hi
    toggle = rng.binomial(1, eps, size=(n, n))
    for i in range(k):
        for j in range(i):
            toggle[los[i]:his[i], los[j]:his[j]] *= 0
    mat = np.where(toggle > 0.0, (1.0 - (mat > 0.0)) * toggle, mat)
    perm = rng.permutation(n)
    return mat[perm, :][:, perm]
rng = np.random.RandomState(1)
graphs = [community(rng, n) for n in (16, 16, 7, 64)]
arr = rng.uniform(size=5); arr.sort(); x = rng.uniform()
print(' '.join(repr(float(v)) for g in graphs for v in g.ravel()), ' '.join(repr(float(v)) for v in list(arr) + [x]))
)",
                                       &status);
  ASSERT_EQ(status, 0) << out;
  const auto expected = parse_numbers(out);
  RandomState rng(1);
  std::vector<double> got;
  for (int64_t n : {16, 16, 7, 64}) {
    const auto g = sample_community_graph(rng, n);
    got.insert(got.end(), g.adjacency.begin(), g.adjacency.end());
  }
  const auto s = sample_sorted_search(rng, 5);
  got.insert(got.end(), s.keys.begin(), s.keys.end());
  got.push_back(s.target);
  EXPECT_EQ(got, expected);
}

TEST(NarSamplers, LinkedListIsOneChain) {
  RandomState rng(3);
  const auto s = sample_linked_list(rng, 9);
  int heads = 0;
  std::vector<int> indegree(9, 0);
  for (int64_t i = 0; i < 9; ++i) {
    heads += s.pred[i] == i;
    if (s.pred[i] != i) ++indegree[s.pred[i]];
  }
  EXPECT_EQ(heads, 1);
  for (int d : indegree) EXPECT_LE(d, 1);
  EXPECT_THROW(find_sampler("gaussian"), Error);
  EXPECT_THROW(sample_community_graph(rng, 3), Error);
}

}  // namespace
}  // namespace scanlab::nar
