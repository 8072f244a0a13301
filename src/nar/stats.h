// Trajectory statistics (the paper's efficiency argument, Engelmayer et al. 2023): how many hint steps an
// algorithm needs and what share of the graph does work in each step.
//   node efficiency: per step t -> t + 1, the share of the N nodes at which some node-level hint
//                    value changes, averaged over the steps of a trajectory, then over samples.
//   edge efficiency: the same for the N^2 ordered node pairs: an edge-level hint value changes at
//                    (i, j), or a node pointer of i moves onto or off j (pointers are edges to a GNN).
// Graph-level hints count for neither. A one-step trajectory (T = 1) has no transitions: its
// efficiencies are undefined and shown as "-".
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "nar/probes.h"

namespace scanlab::nar {

struct TrajectoryEfficiency {
  int64_t steps = 0;  // T - 1 transitions
  double node = 0.0;  // mean share of nodes changing per transition (0 when steps == 0)
  double edge = 0.0;
};
TrajectoryEfficiency trajectory_efficiency(const Trajectory& t);

struct StatsOptions {
  std::vector<int64_t> sizes{16, 64};
  int64_t count = 1000;
  uint32_t seed = 1;
  std::vector<std::string> algorithms;  // empty: every registered algorithm
};

struct StatsRow {
  std::string algorithm;
  std::string family;
  bool parallel = false;
  int64_t nodes = 0, samples = 0;
  double length_mean = 0;
  int64_t length_max = 0;
  int64_t with_steps = 0;  // samples with T >= 2 (that the efficiencies average over)
  double node_efficiency = 0, edge_efficiency = 0;
};

std::vector<StatsRow> compute_stats(const StatsOptions& opts);
std::string format_stats(const std::vector<StatsRow>& rows, const StatsOptions& opts);

}  // namespace scanlab::nar
