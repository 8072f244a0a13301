// Processors: output shapes of every kind, and masking -- a receiver hears exactly the senders its
// processor admits (PGN/GAT: the data adjacency, MPNN: everyone, DeepSets: itself).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/check.h"
#include "nar/gnn/processor.h"
#include "support/expect_close.h"

namespace scanlab::nar::gnn {
namespace {

constexpr int64_t kB = 2, kN = 5, kH = 8;

struct Inputs {
  at::Tensor nodes, edges, graph, adj, hidden;
};

Inputs random_inputs() {
  Inputs in;
  in.nodes = at::randn({kB, kN, kH});
  in.edges = at::randn({kB, kN, kN, kH});
  in.graph = at::randn({kB, kH});
  in.hidden = at::randn({kB, kN, kH});
  // A path 0-1-2-3 plus self-loops; node 4 is isolated.
  in.adj = at::eye(kN).unsqueeze(0).repeat({kB, 1, 1});
  for (int64_t i = 0; i + 1 < 4; ++i) {
    in.adj.index_put_({at::indexing::Slice(), i, i + 1}, 1.0);
    in.adj.index_put_({at::indexing::Slice(), i + 1, i}, 1.0);
  }
  return in;
}

std::shared_ptr<Processor> build(const std::string& kind, bool ln = false) {
  torch::manual_seed(7);
  ProcessorOptions o;
  o.kind = kind;
  o.hidden = kH;
  o.heads = kind.rfind("gat", 0) == 0 ? 2 : 1;
  o.layer_norm = ln;
  o.triplet_features = 4;
  return make_processor(o);
}

TEST(NarGnnProcessors, EveryKindHasTheDocumentedShapes) {
  const Inputs in = random_inputs();
  for (const auto& kind : processor_kinds()) {
    for (bool ln : {false, true}) {
      auto p = build(kind, ln);
      const ProcessorOutput out = p->step(in.nodes, in.edges, in.graph, in.adj, in.hidden);
      EXPECT_EQ(out.nodes.sizes(), (std::vector<int64_t>{kB, kN, kH})) << kind;
      EXPECT_FALSE(out.nodes.isnan().any().item<bool>()) << kind;
      EXPECT_EQ(out.edges.defined(), p->has_edge_latents()) << kind;
      EXPECT_EQ(p->has_edge_latents(), kind.rfind("triplet_", 0) == 0) << kind;
      if (out.edges.defined()) EXPECT_EQ(out.edges.sizes(), (std::vector<int64_t>{kB, kN, kN, kH})) << kind;
    }
  }
}

// Which receivers change when sender `who`'s node features change.
std::vector<bool> receivers_affected_by(Processor& p, const Inputs& in, int64_t who) {
  const at::Tensor base = p.step(in.nodes, in.edges, in.graph, in.adj, in.hidden).nodes;
  at::Tensor nodes = in.nodes.clone();
  nodes.index_put_({at::indexing::Slice(), who}, at::randn({kB, kH}) * 3);
  at::Tensor hidden = in.hidden.clone();
  hidden.index_put_({at::indexing::Slice(), who}, at::randn({kB, kH}) * 3);
  const at::Tensor moved = p.step(nodes, in.edges, in.graph, in.adj, hidden).nodes;
  std::vector<bool> affected;
  for (int64_t j = 0; j < kN; ++j) {
    affected.push_back((moved.select(1, j) - base.select(1, j)).abs().max().item<double>() > 1e-6);
  }
  return affected;
}

TEST(NarGnnProcessors, ReceiversHearOnlyAdmittedSenders) {
  const Inputs in = random_inputs();
  // Changing node 1 reaches nodes 0,1,2 along the path for PGN and GAT.
  const std::vector<bool> path = {true, true, true, false, false};
  EXPECT_EQ(receivers_affected_by(*build("pgn"), in, 1), path);
  EXPECT_EQ(receivers_affected_by(*build("gat"), in, 1), path);
  EXPECT_EQ(receivers_affected_by(*build("triplet_gpgn"), in, 1), path);
  EXPECT_EQ(receivers_affected_by(*build("mpnn"), in, 1), std::vector<bool>(kN, true));
  EXPECT_EQ(receivers_affected_by(*build("gat_full"), in, 1), std::vector<bool>(kN, true));
  EXPECT_EQ(receivers_affected_by(*build("deepsets"), in, 1), (std::vector<bool>{false, true, false, false, false}));
}

TEST(NarGnnProcessors, MaskedMaxMatchesALoopReference) {
  const at::Tensor values = at::randn({kB, kN, kN, 3}, at::kDouble);
  const at::Tensor adj = (at::rand({kB, kN, kN}, at::kDouble) > 0.5).to(at::kDouble);
  const at::Tensor got = masked_max_over_senders(values, adj);
  auto v = values.accessor<double, 4>();
  auto a = adj.accessor<double, 3>();
  for (int64_t b = 0; b < kB; ++b)
    for (int64_t j = 0; j < kN; ++j)
      for (int64_t f = 0; f < 3; ++f) {
        double best = -1e6;
        for (int64_t i = 0; i < kN; ++i)
          if (a[b][i][j] > 0.5) best = std::max(best, v[b][i][j][f]);
        EXPECT_DOUBLE_EQ(got[b][j][f].item<double>(), best);
      }
}

TEST(NarGnnProcessors, ClosedGateKeepsMostOfTheHiddenState) {
  // gate3's bias of -3 gives sigmoid(-3) ~ 0.047 at initialisation when the other terms are small.
  const Inputs in = random_inputs();
  auto p = build("gmpnn");
  at::Tensor small = in.nodes * 1e-3;
  const at::Tensor h = p->step(small, in.edges * 1e-3, in.graph * 1e-3, in.adj, in.hidden).nodes;
  const double rel = ((h - in.hidden).norm() / in.hidden.norm()).item<double>();
  EXPECT_LT(rel, 0.2);
}

TEST(NarGnnProcessors, BadShapesAndKindsAreErrors) {
  const Inputs in = random_inputs();
  auto p = build("pgn");
  EXPECT_THROW(p->step(in.nodes, in.edges.select(3, 0), in.graph, in.adj, in.hidden), scanlab::Error);
  EXPECT_THROW(p->step(in.nodes, in.edges, in.graph, in.adj.select(2, 0), in.hidden), scanlab::Error);
  ProcessorOptions o;
  o.kind = "memnet";
  try {
    make_processor(o);
    FAIL() << "memnet should be rejected";
  } catch (const scanlab::Error& e) {
    EXPECT_NE(std::string(e.what()).find("memnet"), std::string::npos);
  }
  o.kind = "gat";
  o.hidden = 6;
  o.heads = 4;
  EXPECT_THROW(make_processor(o), scanlab::Error);
}

}  // namespace
}  // namespace scanlab::nar::gnn
