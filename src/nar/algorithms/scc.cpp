// Strongly connected components. Sequential: CLRS Kosaraju (two iterative DFS passes with a linked
// stack; a hint at every tree start, discovery, child push and finish, so T = 5n + #SCC).
// Parallel (Engelmayer et al. 2023): from the smallest unassigned pivot, forward and backward reachability
// grow one hop per step at every node at once; their intersection is the pivot's SCC.
#include <algorithm>
#include <numeric>

#include "core/check.h"
#include "nar/algorithms/algorithms.h"

namespace scanlab::nar {
namespace {

constexpr Stage In = Stage::Input, Out = Stage::Output, H = Stage::Hint;
constexpr Location N = Location::Node, E = Location::Edge, G = Location::Graph;

void check_graph(const std::vector<double>& a, int64_t n, const char* who) {
  SCANLAB_CHECK(n >= 1 && static_cast<int64_t>(a.size()) == n * n, who, ": adjacency has ", a.size(),
                " entries, expected n * n = ", n * n);
}

Snapshot graph_inputs(const std::vector<double>& a, int64_t n) {
  return {{"pos", probe::values(probe::positions(n, n))}, {"A", probe::matrix(a, n)}, {"adj", probe::graph(a, n)}};
}

// The DFS state of CLRS's Kosaraju, shared by both passes (time and d carry over into pass 2).
struct Kosaraju {
  int64_t n;
  ProbeRecorder& rec;
  Array a_t;  // graph(A^T), constant hint
  std::vector<int64_t> scc_id, color, s_prev;
  std::vector<double> d, f;
  double time = 0.0;

  void push(int64_t s, int64_t u, int64_t v, int64_t s_last, double phase) {
    rec.push(H, {{"scc_id_h", probe::pointers(scc_id)},
                 {"A_t", a_t},
                 {"color", probe::categorical(color, 3)},
                 {"d", probe::values(d)},
                 {"f", probe::values(f)},
                 {"s_prev", probe::pointers(s_prev)},
                 {"s", probe::mask_one(s, n)},
                 {"u", probe::mask_one(u, n)},
                 {"v", probe::mask_one(v, n)},
                 {"s_last", probe::mask_one(s_last, n)},
                 {"time", probe::scalar(time)},
                 {"phase", probe::scalar(phase)}});
  }

  // One DFS tree from root s over `graph` (row u lists u's out-neighbours). Mirrors the textbook
  // loop exactly, including `v` keeping the last scanned index (n - 1) when no child was found.
  void tree(const std::vector<double>& graph, int64_t s, double phase, bool label) {
    int64_t s_last = s, u = s, v = s;
    push(s, u, v, s_last, phase);
    while (true) {
      if (label) scc_id[u] = s;
      if (color[u] == 0 || d[u] == 0.0) {
        time += 0.01;
        d[u] = time;
        color[u] = 1;
        push(s, u, v, s_last, phase);
      }
      for (v = 0; v < n; ++v) {
        if (graph[u * n + v] != 0 && color[v] == 0) {
          color[v] = 1;
          s_prev[v] = s_last;
          s_last = v;
          push(s, u, v, s_last, phase);
          break;
        }
      }
      if (v == n) v = n - 1;  // Python's loop variable after an exhausted range
      if (s_last == u) {
        color[u] = 2;
        time += 0.01;
        f[u] = time;
        push(s, u, v, s_last, phase);
        if (s_prev[u] == u) break;
        const int64_t pr = s_prev[s_last];
        s_prev[s_last] = s_last;
        s_last = pr;
      }
      u = s_last;
    }
  }
};

}  // namespace

Spec strongly_connected_components_spec() {
  return {{"pos", In, N, Type::Scalar},       {"A", In, E, Type::Scalar},        {"adj", In, E, Type::Mask},
          {"scc_id", Out, N, Type::Pointer},  {"scc_id_h", H, N, Type::Pointer}, {"A_t", H, E, Type::Mask},
          {"color", H, N, Type::Categorical}, {"d", H, N, Type::Scalar},         {"f", H, N, Type::Scalar},
          {"s_prev", H, N, Type::Pointer},    {"s", H, N, Type::MaskOne},        {"u", H, N, Type::MaskOne},
          {"v", H, N, Type::MaskOne},         {"s_last", H, N, Type::MaskOne},   {"time", H, G, Type::Scalar},
          {"phase", H, G, Type::Mask}};
}

Trajectory strongly_connected_components(const std::vector<double>& a, int64_t n) {
  check_graph(a, n, "strongly_connected_components");
  ProbeRecorder rec("strongly_connected_components", strongly_connected_components_spec(), n);
  rec.push(In, graph_inputs(a, n));
  std::vector<double> a_t(a.size());
  for (int64_t u = 0; u < n; ++u)
    for (int64_t v = 0; v < n; ++v) a_t[v * n + u] = a[u * n + v];
  Kosaraju k{n,
             rec,
             probe::graph(a_t, n),
             probe::identity(n),
             std::vector<int64_t>(n, 0),
             probe::identity(n),
             std::vector<double>(n, 0.0),
             std::vector<double>(n, 0.0)};
  // 1. DFS on A in index order records finishing times.
  for (int64_t s = 0; s < n; ++s)
    if (k.color[s] == 0) k.tree(a, s, 0.0, false);
  // 2. DFS on A^T in decreasing finishing time; each tree is one SCC, labelled by its root.
  std::fill(k.color.begin(), k.color.end(), 0);
  k.s_prev = probe::identity(n);
  auto order = probe::identity(n);
  std::sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return k.f[x] > k.f[y]; });
  for (int64_t s : order)
    if (k.color[s] == 0) k.tree(a_t, s, 1.0, true);
  rec.push(Out, {{"scc_id", probe::pointers(k.scc_id)}});
  return rec.finalize();
}

Spec parallel_scc_spec() {
  return {{"pos", In, N, Type::Scalar},      {"A", In, E, Type::Scalar}, {"adj", In, E, Type::Mask},
          {"scc_id", Out, N, Type::Pointer}, {"s", H, N, Type::MaskOne}, {"desc", H, N, Type::Mask},
          {"pred", H, N, Type::Mask},        {"scc", H, N, Type::Mask},  {"scc_id_h", H, N, Type::Pointer},
          {"unassigned", H, N, Type::Mask}};
}

Trajectory parallel_scc(const std::vector<double>& a, int64_t n) {
  check_graph(a, n, "parallel_scc");
  ProbeRecorder rec("parallel_scc", parallel_scc_spec(), n);
  rec.push(In, graph_inputs(a, n));
  auto scc_id = probe::identity(n);
  std::vector<double> unassigned(static_cast<size_t>(n), 1.0);
  while (true) {
    const auto it = std::find(unassigned.begin(), unassigned.end(), 1.0);
    if (it == unassigned.end()) break;
    const int64_t s = it - unassigned.begin();  // pivot: the smallest unassigned node
    std::vector<double> desc(static_cast<size_t>(n), 0.0), pred = desc, scc = desc;
    desc[s] = pred[s] = 1.0;
    while (true) {
      // 1. nodes both reachable from s and reaching s are (so far) in s's SCC
      for (int64_t i = 0; i < n; ++i) {
        scc[i] = desc[i] * pred[i];
        if (scc[i] == 1.0) {
          scc_id[i] = s;
          unassigned[i] = 0.0;
        }
      }
      rec.push(H, {{"s", probe::mask_one(s, n)},
                   {"desc", probe::values(desc)},
                   {"pred", probe::values(pred)},
                   {"scc", probe::values(scc)},
                   {"scc_id_h", probe::pointers(scc_id)},
                   {"unassigned", probe::values(unassigned)}});
      // 2. one hop forward and one hop backward, every node at once
      auto next_desc = desc, next_pred = pred;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
          if (a[i * n + j] > 0 && desc[i] == 1.0) next_desc[j] = 1.0;
          if (a[j * n + i] > 0 && pred[i] == 1.0) next_pred[j] = 1.0;
        }
      if (next_desc == desc && next_pred == pred) break;
      desc.swap(next_desc);
      pred.swap(next_pred);
    }
  }
  rec.push(Out, {{"scc_id", probe::pointers(scc_id)}});
  return rec.finalize();
}

}  // namespace scanlab::nar
