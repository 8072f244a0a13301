// The registered algorithms, sequential and parallel per problem family.
#include "nar/algorithms/registry.h"

#include <sstream>

#include "core/check.h"
#include "core/registry.h"
#include "nar/algorithms/algorithms.h"

namespace scanlab::nar {

const std::vector<AlgorithmInfo>& algorithm_registry() {
  using In = const SampleInput&;
  static const std::vector<AlgorithmInfo> registry{
      {"binary_search", "search", false, "sorted_search", 64, true, 4096, "CLRS binary search, one hint per halving",
       binary_search_spec, [](In s) { return binary_search(s.keys, s.target); }},
      {"parallel_search", "search", true, "sorted_search", 64, false, 4096,
       "every cell compares itself with the target at once (n + 1 nodes)", parallel_search_spec,
       [](In s) { return parallel_search(s.keys, s.target); }},
      {"minimum", "search", false, "uniform_array", 64, true, 1024, "CLRS minimum, one hint per scanned cell",
       minimum_spec, [](In s) { return minimum(s.keys); }},
      {"insertion_sort", "sort", false, "uniform_array", 1, false, 512, "CLRS insertion sort, one hint per insertion",
       insertion_sort_spec, [](In s) { return insertion_sort(s.keys); }},
      {"bubble_sort", "sort", false, "uniform_array", 1, false, 128, "CLRS bubble sort, one hint per comparison",
       insertion_sort_spec, [](In s) { return bubble_sort(s.keys); }},
      {"odd_even_transposition_sort", "sort", true, "uniform_array", 1, false, 256,
       "linear processor array, swap hint indexed by array position (as the paper's code)",
       odd_even_transposition_sort_spec,
       [](In s) { return odd_even_transposition_sort(s.keys, SwapIndexing::Position); }},
      {"odd_even_transposition_sort_by_node", "sort", true, "uniform_array", 1, false, 256,
       "odd-even transposition sort, swap hint marks the swapped nodes", odd_even_transposition_sort_spec,
       [](In s) { return odd_even_transposition_sort(s.keys, SwapIndexing::Node); }},
      {"parallel_rank_sort", "sort", true, "uniform_array", 64, false, 1024,
       "every pair compared in one step; rank = number of smaller keys", parallel_rank_sort_spec,
       [](In s) { return parallel_rank_sort(s.keys); }},
      {"strongly_connected_components", "scc", false, "community_graph", 1, false, 128,
       "CLRS Kosaraju: two DFS passes with an explicit stack", strongly_connected_components_spec,
       [](In s) { return strongly_connected_components(s.adjacency, s.n); }},
      {"parallel_scc", "scc", true, "community_graph", 1, false, 512,
       "forward/backward reachability, one hop per step, from the smallest unassigned pivot", parallel_scc_spec,
       [](In s) { return parallel_scc(s.adjacency, s.n); }},
      {"prefix_sum", "prefix_sum", false, "uniform_array", 1, false, 1024, "sequential fold, one element per step",
       prefix_sum_spec, [](In s) { return prefix_sum(s.keys); }},
      {"prefix_sum_hillis_steele", "prefix_sum", true, "uniform_array", 1, false, 4096,
       "Hillis-Steele scan: strides 1, 2, 4, ... at every node", prefix_sum_hillis_steele_spec,
       [](In s) { return prefix_sum_hillis_steele(s.keys); }},
      {"prefix_sum_blelloch", "prefix_sum", true, "uniform_array", 1, false, 4096,
       "Blelloch scan: up-sweep, clear root, down-sweep", prefix_sum_blelloch_spec,
       [](In s) { return prefix_sum_blelloch(s.keys); }},
      {"list_ranking", "list_ranking", false, "linked_list", 1, false, 1024, "walk the list from its head",
       list_ranking_spec, [](In s) { return list_ranking(s.pred); }},
      {"parallel_list_ranking", "list_ranking", true, "linked_list", 1, false, 4096,
       "Wyllie's pointer jumping: every node jumps to its pointer's pointer", parallel_list_ranking_spec,
       [](In s) { return parallel_list_ranking(s.pred); }},
  };
  return registry;
}

const AlgorithmInfo& find_algorithm(const std::string& name) {
  return find_by_name(algorithm_registry(), name, "algorithm");
}

int64_t min_nodes(const AlgorithmInfo& a) { return find_sampler(a.sampler).min_nodes; }

void check_nodes(const AlgorithmInfo& a, int64_t n) {
  SCANLAB_CHECK(n >= min_nodes(a) && n <= a.max_nodes, a.name, ": n = ", n, " is out of range; expected ", min_nodes(a),
                " <= n <= ", a.max_nodes, " (sampler ", a.sampler, ")");
}

std::string format_algorithm_table() {
  std::ostringstream os;
  os << "| algorithm | family | kind | sampler | n | multiplier | summary |\n|---|---|---|---|---|---:|---|\n";
  for (const auto& a : algorithm_registry())
    os << "| " << a.name << " | " << a.family << " | " << (a.parallel ? "parallel" : "sequential") << " | " << a.sampler
       << " | " << min_nodes(a) << "-" << a.max_nodes << " | " << a.multiplier << " | " << a.summary << " |\n";
  return os.str();
}

}  // namespace scanlab::nar
