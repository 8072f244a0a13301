// The algorithm registry: name -> spec, sampler, function and CLRS dataset settings. Everything
// the CLI, datasets and statistics know about an algorithm comes from this table.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "nar/probes.h"
#include "nar/samplers/samplers.h"

namespace scanlab::nar {

struct AlgorithmInfo {
  std::string name;
  std::string family;   // problem solved: search, sort, scc, prefix_sum, list_ranking
  bool parallel;        // a parallel algorithm (few, full steps) or a sequential textbook one
  std::string sampler;  // name in sampler_registry()
  int64_t multiplier;   // CLRS num_samples_multiplier: val and test get 32 * multiplier samples
  bool pred_as_input;   // CLRS moves the constant `pred_h` hint to an input `pred` for it
  int64_t max_nodes;    // hints grow as T * N (or T * N^2): keeps one trajectory in memory bounds
  std::string summary;
  std::function<Spec()> spec;
  std::function<Trajectory(const SampleInput&)> run;
};

const std::vector<AlgorithmInfo>& algorithm_registry();
// Throws scanlab::Error listing the registered names.
const AlgorithmInfo& find_algorithm(const std::string& name);
// Smallest n the algorithm's sampler accepts.
int64_t min_nodes(const AlgorithmInfo& a);
// Throws scanlab::Error unless min_nodes(a) <= n <= a.max_nodes.
void check_nodes(const AlgorithmInfo& a, int64_t n);
// A markdown table of the registry (name, family, kind, sampler, n range, summary).
std::string format_algorithm_table();

}  // namespace scanlab::nar
