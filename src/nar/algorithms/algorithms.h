// The algorithms, each a plain function that runs on its input and records a Trajectory (hints as
// Engelmayer et al. 2023 and CLRS describe). Sequential CLRS versions sit next to their parallel versions:
//   searching.cpp     binary_search, minimum          | parallel_search
//   sorting.cpp       insertion_sort, bubble_sort     | odd_even_transposition_sort, parallel_rank_sort
//   scc.cpp           strongly_connected_components   | parallel_scc
//   prefix_sum.cpp    prefix_sum (fold)               | prefix_sum_hillis_steele, prefix_sum_blelloch
//   list_ranking.cpp  list_ranking (walk)             | parallel_list_ranking (pointer jumping)
// Graphs are n x n row-major adjacency matrices (A[u * n + v] != 0: edge u -> v).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "nar/probes.h"

namespace scanlab::nar {

// Which edges the odd-even swap hint marks: array positions (the paper's code) or the nodes
// being swapped (the evidently intended semantics); see Engelmayer et al. 2023
enum class SwapIndexing { Position, Node };

// Shared start of the algorithms on an array: checks it is non-empty, pushes inputs pos = i / n
// and key.
ProbeRecorder start_on_keys(const std::string& name, Spec spec, const std::vector<double>& keys);

Spec binary_search_spec();
Spec minimum_spec();
Spec parallel_search_spec();
Trajectory binary_search(const std::vector<double>& sorted_keys, double target);
Trajectory minimum(const std::vector<double>& keys);
Trajectory parallel_search(const std::vector<double>& sorted_keys, double target);

Spec insertion_sort_spec();  // also bubble_sort's spec
Spec odd_even_transposition_sort_spec();
Spec parallel_rank_sort_spec();
Trajectory insertion_sort(const std::vector<double>& keys);
Trajectory bubble_sort(const std::vector<double>& keys);
Trajectory odd_even_transposition_sort(const std::vector<double>& keys, SwapIndexing indexing);
Trajectory parallel_rank_sort(const std::vector<double>& keys);

Spec strongly_connected_components_spec();
Spec parallel_scc_spec();
Trajectory strongly_connected_components(const std::vector<double>& adjacency, int64_t n);
Trajectory parallel_scc(const std::vector<double>& adjacency, int64_t n);

// Inclusive prefix sums; hints `acc` (the running array) plus the index / partner pointers.
Spec prefix_sum_spec();
Spec prefix_sum_hillis_steele_spec();
Spec prefix_sum_blelloch_spec();
Trajectory prefix_sum(const std::vector<double>& keys);
Trajectory prefix_sum_hillis_steele(const std::vector<double>& keys);
Trajectory prefix_sum_blelloch(const std::vector<double>& keys);

Spec list_ranking_spec();
Spec parallel_list_ranking_spec();
// `pred[i]`: the node before i in the list; the head points to itself.
Trajectory list_ranking(const std::vector<int64_t>& pred);
Trajectory parallel_list_ranking(const std::vector<int64_t>& pred);

}  // namespace scanlab::nar
