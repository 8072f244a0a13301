// Input distributions of the CLRS samplers, drawn with numpy's RandomState so a
// seed gives CLRS's own arrays and graphs, plus a linked-list sampler for list ranking.
// A registry maps each sampler name to its draw function; algorithms name the sampler they use.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "nar/samplers/random_state.h"

namespace scanlab::nar {

// One algorithm input; a sampler fills the fields its family uses.
struct SampleInput {
  int64_t n = 0;
  std::vector<double> keys;       // arrays: sorting, search, prefix sums
  double target = 0.0;            // search target
  std::vector<double> adjacency;  // graphs: n * n, row-major, A[u * n + v] = 1 for u -> v
  std::vector<int64_t> pred;      // linked lists: predecessor of each node, the head points to itself
};

// SortingSampler: keys ~ U[0, 1]^n.
SampleInput sample_uniform_array(RandomState& rng, int64_t n);
// SearchSampler: sorted keys ~ U[0, 1]^n, then target ~ U[0, 1].
SampleInput sample_sorted_search(RandomState& rng, int64_t n);
// SccSampler: directed k-community graph (k blocks of directed ER(p), toggles ER(eps) only from
// earlier to later blocks, then a random node permutation). CLRS: k = 4, p = 0.5, eps = 0.01.
SampleInput sample_community_graph(RandomState& rng, int64_t n, int64_t k = 4, double p = 0.5, double eps = 0.01);
// A random order of the n nodes chained by predecessor pointers.
SampleInput sample_linked_list(RandomState& rng, int64_t n);
// numpy's rng.binomial(1, p, size=(n, n)) as doubles.
std::vector<double> sample_er_matrix(RandomState& rng, int64_t n, double p);

struct SamplerInfo {
  std::string name;
  std::string summary;
  int64_t min_nodes;
  std::function<SampleInput(RandomState&, int64_t)> draw;
};

const std::vector<SamplerInfo>& sampler_registry();
// Throws scanlab::Error listing the registered names.
const SamplerInfo& find_sampler(const std::string& name);

}  // namespace scanlab::nar
