// CLRS sampler distributions (samplers.py), re-derived on top of RandomState.
#include "nar/samplers/samplers.h"

#include <algorithm>

#include "core/check.h"
#include "core/registry.h"

namespace scanlab::nar {

SampleInput sample_uniform_array(RandomState& rng, int64_t n) {
  SampleInput s;
  s.n = n;
  s.keys = rng.uniform_n(n);
  return s;
}

SampleInput sample_sorted_search(RandomState& rng, int64_t n) {
  SampleInput s = sample_uniform_array(rng, n);
  std::sort(s.keys.begin(), s.keys.end());
  s.target = rng.uniform();
  return s;
}

std::vector<double> sample_er_matrix(RandomState& rng, int64_t n, double p) {
  std::vector<double> m(static_cast<size_t>(n * n));
  for (auto& x : m) x = static_cast<double>(rng.bernoulli(p));
  return m;
}

SampleInput sample_community_graph(RandomState& rng, int64_t n, int64_t k, double p, double eps) {
  SCANLAB_CHECK(k >= 1 && k <= n, "community graph: ", k, " communities need at least ", k, " nodes, got ", n);
  std::vector<double> mat(static_cast<size_t>(n * n), 0.0);
  std::vector<int64_t> lo(static_cast<size_t>(k)), hi(static_cast<size_t>(k));
  for (int64_t c = 0, start = 0; c < k; ++c) {
    lo[c] = start;
    hi[c] = c == k - 1 ? n : start + n / k;
    const int64_t size = hi[c] - lo[c];
    const auto block = sample_er_matrix(rng, size, p);
    for (int64_t i = 0; i < size; ++i)
      for (int64_t j = 0; j < size; ++j) mat[(lo[c] + i) * n + lo[c] + j] = block[i * size + j];
    start = hi[c];
  }
  auto toggle = sample_er_matrix(rng, n, eps);
  // Toggles from a later block back to an earlier one would close new cycles: drop them.
  for (int64_t ci = 0; ci < k; ++ci)
    for (int64_t cj = 0; cj < ci; ++cj)
      for (int64_t i = lo[ci]; i < hi[ci]; ++i)
        for (int64_t j = lo[cj]; j < hi[cj]; ++j) toggle[i * n + j] = 0.0;
  for (size_t e = 0; e < mat.size(); ++e)
    if (toggle[e] > 0.0) mat[e] = (1.0 - (mat[e] > 0.0 ? 1.0 : 0.0)) * toggle[e];
  const auto perm = rng.permutation(n);  // mat[perm, :][:, perm]
  SampleInput s;
  s.n = n;
  s.adjacency.resize(mat.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) s.adjacency[i * n + j] = mat[perm[i] * n + perm[j]];
  return s;
}

SampleInput sample_linked_list(RandomState& rng, int64_t n) {
  const auto order = rng.permutation(n);
  SampleInput s;
  s.n = n;
  s.pred.assign(static_cast<size_t>(n), order[0]);
  for (int64_t k = 1; k < n; ++k) s.pred[order[k]] = order[k - 1];
  return s;
}

const std::vector<SamplerInfo>& sampler_registry() {
  static const std::vector<SamplerInfo> registry{
      {"uniform_array", "keys ~ U[0, 1]^n (CLRS SortingSampler)", 1, sample_uniform_array},
      {"sorted_search", "sorted keys ~ U[0, 1]^n and a target ~ U[0, 1] (CLRS SearchSampler)", 1, sample_sorted_search},
      {"community_graph", "directed 4-community graph, p = 0.5, eps = 0.01 (CLRS SccSampler)", 4,
       [](RandomState& rng, int64_t n) { return sample_community_graph(rng, n); }},
      {"linked_list", "one list through all nodes in random order (predecessor pointers)", 1, sample_linked_list},
  };
  return registry;
}

const SamplerInfo& find_sampler(const std::string& name) { return find_by_name(sampler_registry(), name, "sampler"); }

}  // namespace scanlab::nar
