// SCC: Kosaraju and parallel SCC partition nodes exactly as Tarjan's algorithm does, on thousands
// of graphs; Kosaraju's trajectory has 5n + #SCC hints; parallel SCC labels by the smallest node.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>

#include "nar/algorithms/algorithms.h"
#include "nar/samplers/samplers.h"

namespace scanlab::nar {
namespace {

// Tarjan's algorithm: component index per node.
std::vector<int64_t> tarjan(const std::vector<double>& a, int64_t n) {
  std::vector<int64_t> index(n, -1), low(n, 0), comp(n, -1), stack;
  std::vector<char> on_stack(n, 0);
  int64_t counter = 0, comps = 0;
  std::function<void(int64_t)> visit = [&](int64_t v) {
    index[v] = low[v] = counter++;
    stack.push_back(v);
    on_stack[v] = 1;
    for (int64_t w = 0; w < n; ++w) {
      if (a[v * n + w] == 0) continue;
      if (index[w] < 0) {
        visit(w);
        low[v] = std::min(low[v], low[w]);
      } else if (on_stack[w]) {
        low[v] = std::min(low[v], index[w]);
      }
    }
    if (low[v] == index[v]) {
      int64_t w;
      do {
        w = stack.back();
        stack.pop_back();
        on_stack[w] = 0;
        comp[w] = comps;
      } while (w != v);
      ++comps;
    }
  };
  for (int64_t v = 0; v < n; ++v)
    if (index[v] < 0) visit(v);
  return comp;
}

// Same partition: labels agree pairwise exactly when components do.
void expect_same_partition(const std::vector<double>& labels, const std::vector<int64_t>& comp, const char* who) {
  const auto n = static_cast<int64_t>(comp.size());
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_EQ(comp[static_cast<int64_t>(labels[i])], comp[i]) << who << ": node " << i << " labelled outside its SCC";
    for (int64_t j = 0; j < n; ++j)
      ASSERT_EQ(labels[i] == labels[j], comp[i] == comp[j]) << who << " nodes " << i << ", " << j;
  }
}

TEST(NarScc, KosarajuAndParallelMatchTarjan) {
  RandomState rng(5);
  std::mt19937 g(5);
  for (int trial = 0; trial < 2000; ++trial) {
    const int64_t n = 4 + trial % 20;
    SampleInput s;
    if (trial % 2 == 0) {
      s = sample_community_graph(rng, n);
    } else {  // sparse directed ER graphs give many small components
      s.n = n;
      s.adjacency = sample_er_matrix(rng, n, 0.05 + 0.3 * (g() % 100) / 100.0);
    }
    const auto comp = tarjan(s.adjacency, n);
    const int64_t count = *std::max_element(comp.begin(), comp.end()) + 1;
    const auto k = strongly_connected_components(s.adjacency, n);
    EXPECT_EQ(k.length, 5 * n + count);
    expect_same_partition(k.get("scc_id").value.data, comp, "kosaraju");
    const auto p = parallel_scc(s.adjacency, n);
    const auto& labels = p.get("scc_id").value.data;
    expect_same_partition(labels, comp, "parallel_scc");
    for (int64_t i = 0; i < n; ++i) {
      const auto smallest = std::find(comp.begin(), comp.end(), comp[i]) - comp.begin();
      EXPECT_EQ(labels[i], static_cast<double>(smallest));
    }
  }
}

TEST(NarScc, ParallelSccOnAHandGraph) {
  // 0 -> 1 -> 2 -> 0 and 2 -> 3: SCCs {0, 1, 2}, {3}. Pivot 0: desc grows by 1, 2, 3 in three
  // hops, so 4 hints; pivot 3: the sweeps cover the whole graph, pred grows by 2, 1, 0: 4 hints.
  std::vector<double> a(16, 0.0);
  a[0 * 4 + 1] = a[1 * 4 + 2] = a[2 * 4 + 0] = a[2 * 4 + 3] = 1.0;
  const auto t = parallel_scc(a, 4);
  EXPECT_EQ(t.get("scc_id").value.data, (std::vector<double>{0, 0, 0, 3}));
  EXPECT_EQ(t.length, 8);
  const auto k = strongly_connected_components(a, 4);
  EXPECT_EQ(k.length, 5 * 4 + 2);
}

}  // namespace
}  // namespace scanlab::nar
