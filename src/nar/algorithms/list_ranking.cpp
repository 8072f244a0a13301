// List ranking: the distance of every node from the head of a linked list given by predecessor
// pointers (the head points to itself). Sequential: walk from the head, one node per step, T = n.
// Parallel (Wyllie's pointer jumping): every node adds its pointer's rank and jumps to its
// pointer's pointer at once; the invariant rank[i] = hops from i to pred_h[i] gives
// T = 1 + ceil(log2(n - 1)) for n >= 2.
#include "core/check.h"
#include "nar/algorithms/algorithms.h"

namespace scanlab::nar {
namespace {

constexpr Stage In = Stage::Input, Out = Stage::Output, H = Stage::Hint;
constexpr Location N = Location::Node;

// The nodes in list order; throws unless `pred` is one list through all nodes.
std::vector<int64_t> list_order(const std::vector<int64_t>& pred, const char* who) {
  const auto n = static_cast<int64_t>(pred.size());
  SCANLAB_CHECK(n >= 1, who, ": needs at least one node");
  std::vector<int64_t> succ(static_cast<size_t>(n), -1);
  int64_t head = -1;
  for (int64_t i = 0; i < n; ++i) {
    SCANLAB_CHECK(pred[i] >= 0 && pred[i] < n, who, ": pred[", i, "] = ", pred[i], " is not a node");
    if (pred[i] == i) {
      SCANLAB_CHECK(head < 0, who, ": nodes ", head, " and ", i, " both point to themselves; a list has one head");
      head = i;
    } else {
      SCANLAB_CHECK(succ[pred[i]] < 0, who, ": node ", pred[i], " is the predecessor of two nodes");
      succ[pred[i]] = i;
    }
  }
  SCANLAB_CHECK(head >= 0, who, ": no node points to itself; the head of the list must");
  std::vector<int64_t> order{head};
  while (succ[order.back()] >= 0 && static_cast<int64_t>(order.size()) <= n) order.push_back(succ[order.back()]);
  SCANLAB_CHECK(static_cast<int64_t>(order.size()) == n, who, ": the list from head ", head, " reaches ", order.size(),
                " of ", n, " nodes (the rest form a cycle)");
  return order;
}

ProbeRecorder start(const char* name, Spec spec, const std::vector<int64_t>& pred) {
  const auto n = static_cast<int64_t>(pred.size());
  ProbeRecorder rec(name, std::move(spec), n);
  rec.push(In, {{"pos", probe::values(probe::positions(n, n))}, {"pred", probe::pointers(pred)}});
  return rec;
}

}  // namespace

Spec list_ranking_spec() {
  return {{"pos", In, N, Type::Scalar},   {"pred", In, N, Type::Pointer}, {"rank", Out, N, Type::Scalar},
          {"rank_h", H, N, Type::Scalar}, {"visited", H, N, Type::Mask},  {"cur", H, N, Type::MaskOne}};
}

Spec parallel_list_ranking_spec() {
  return {{"pos", In, N, Type::Scalar},
          {"pred", In, N, Type::Pointer},
          {"rank", Out, N, Type::Scalar},
          {"rank_h", H, N, Type::Scalar},
          {"pred_h", H, N, Type::Pointer}};
}

Trajectory list_ranking(const std::vector<int64_t>& pred) {
  const auto order = list_order(pred, "list_ranking");
  const auto n = static_cast<int64_t>(pred.size());
  auto rec = start("list_ranking", list_ranking_spec(), pred);
  std::vector<double> rank(static_cast<size_t>(n), 0.0), visited(static_cast<size_t>(n), 0.0);
  for (int64_t k = 0; k < n; ++k) {
    const int64_t cur = order[k];
    rank[cur] = k == 0 ? 0.0 : rank[order[k - 1]] + 1.0;
    visited[cur] = 1.0;
    rec.push(H,
             {{"rank_h", probe::values(rank)}, {"visited", probe::values(visited)}, {"cur", probe::mask_one(cur, n)}});
  }
  rec.push(Out, {{"rank", probe::values(rank)}});
  return rec.finalize();
}

Trajectory parallel_list_ranking(const std::vector<int64_t>& pred) {
  list_order(pred, "parallel_list_ranking");
  const auto n = static_cast<int64_t>(pred.size());
  auto rec = start("parallel_list_ranking", parallel_list_ranking_spec(), pred);
  auto jump = pred;
  std::vector<double> rank(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) rank[i] = pred[i] == i ? 0.0 : 1.0;
  rec.push(H, {{"rank_h", probe::values(rank)}, {"pred_h", probe::pointers(jump)}});
  auto settled = [&] {
    for (int64_t i = 0; i < n; ++i)
      if (jump[jump[i]] != jump[i]) return false;
    return true;
  };
  while (!settled()) {
    auto next_rank = rank;
    auto next_jump = jump;
    for (int64_t i = 0; i < n; ++i) {
      next_rank[i] = rank[i] + rank[jump[i]];
      next_jump[i] = jump[jump[i]];
    }
    rank.swap(next_rank);
    jump.swap(next_jump);
    rec.push(H, {{"rank_h", probe::values(rank)}, {"pred_h", probe::pointers(jump)}});
  }
  rec.push(Out, {{"rank", probe::values(rank)}});
  return rec.finalize();
}

}  // namespace scanlab::nar
