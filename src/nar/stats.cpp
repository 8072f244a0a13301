// Trajectory lengths and node / edge efficiencies per algorithm.
#include "nar/stats.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "core/check.h"
#include "nar/algorithms/registry.h"
#include "nar/dataset.h"

namespace scanlab::nar {

TrajectoryEfficiency trajectory_efficiency(const Trajectory& t) {
  TrajectoryEfficiency e;
  e.steps = t.length - 1;
  if (e.steps == 0) return e;
  const int64_t n = t.nodes;
  std::vector<char> node_changed(static_cast<size_t>(n)), edge_changed(static_cast<size_t>(n * n));
  double node_sum = 0, edge_sum = 0;
  for (int64_t s = 1; s < t.length; ++s) {
    std::fill(node_changed.begin(), node_changed.end(), 0);
    std::fill(edge_changed.begin(), edge_changed.end(), 0);
    for (const auto& d : t.data) {
      if (d.entry.stage != Stage::Hint || d.entry.location == Location::Graph) continue;
      const int64_t per_step = d.value.numel() / t.length;
      const int64_t cells = d.entry.location == Location::Node ? n : n * n;
      const int64_t per_cell = per_step / cells;  // categories, or a pointer row
      const double* prev = d.value.data.data() + (s - 1) * per_step;
      const double* cur = prev + per_step;
      for (int64_t c = 0; c < cells; ++c) {
        if (!std::equal(prev + c * per_cell, prev + (c + 1) * per_cell, cur + c * per_cell)) {
          (d.entry.location == Location::Node ? node_changed : edge_changed)[c] = 1;
          if (d.entry.location == Location::Node && holds_indices(d.entry.type)) {
            edge_changed[c * n + static_cast<int64_t>(prev[c])] = 1;
            edge_changed[c * n + static_cast<int64_t>(cur[c])] = 1;
          }
        }
      }
    }
    node_sum += static_cast<double>(std::count(node_changed.begin(), node_changed.end(), 1)) / static_cast<double>(n);
    edge_sum +=
        static_cast<double>(std::count(edge_changed.begin(), edge_changed.end(), 1)) / static_cast<double>(n * n);
  }
  e.node = node_sum / static_cast<double>(e.steps);
  e.edge = edge_sum / static_cast<double>(e.steps);
  return e;
}

std::vector<StatsRow> compute_stats(const StatsOptions& opts) {
  SCANLAB_CHECK(opts.count >= 1, "stats: count ", opts.count, " must be at least 1");
  SCANLAB_CHECK(!opts.sizes.empty(), "stats: give at least one size n");
  std::vector<std::string> names = opts.algorithms;
  if (names.empty())
    for (const auto& a : algorithm_registry()) names.push_back(a.name);
  std::vector<StatsRow> rows;
  for (const auto& name : names) {
    const auto& algo = find_algorithm(name);
    for (int64_t n : opts.sizes) {
      check_nodes(algo, n);
      StatsRow r{algo.name, algo.family, algo.parallel, n, opts.count};
      DatasetOptions d;
      d.algorithm = name, d.nodes = n, d.count = opts.count, d.seed = opts.seed;
      for_each_sample(d, [&](const Trajectory& t) {
        r.length_mean += static_cast<double>(t.length) / static_cast<double>(opts.count);
        r.length_max = std::max(r.length_max, t.length);
        const auto e = trajectory_efficiency(t);
        if (e.steps == 0) return;
        ++r.with_steps;
        r.node_efficiency += e.node;
        r.edge_efficiency += e.edge;
      });
      if (r.with_steps > 0) {
        r.node_efficiency /= static_cast<double>(r.with_steps);
        r.edge_efficiency /= static_cast<double>(r.with_steps);
      }
      rows.push_back(r);
    }
  }
  return rows;
}

std::string format_stats(const std::vector<StatsRow>& rows, const StatsOptions& opts) {
  std::ostringstream os;
  os << "Hint trajectories: " << opts.count << " samples per row, sampler seed " << opts.seed
     << "; efficiency = share of nodes / edges whose hint values change per step (- : T = 1, no steps)\n\n";
  os << "| algorithm | family | kind | n | T mean | T max | node eff. | edge eff. |\n";
  os << "|---|---|---|---:|---:|---:|---:|---:|\n";
  char buf[256];
  for (const auto& r : rows) {
    std::string node = "-", edge = "-";
    if (r.with_steps > 0) {
      std::snprintf(buf, sizeof buf, "%.3f", r.node_efficiency);
      node = buf;
      std::snprintf(buf, sizeof buf, "%.4f", r.edge_efficiency);
      edge = buf;
    }
    std::snprintf(buf, sizeof buf, "%.1f", r.length_mean);
    os << "| " << r.algorithm << " | " << r.family << " | " << (r.parallel ? "parallel" : "sequential") << " | "
       << r.nodes << " | " << buf << " | " << r.length_max << " | " << node << " | " << edge << " |\n";
  }
  return os.str();
}

}  // namespace scanlab::nar
