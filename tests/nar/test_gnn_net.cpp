// Encoders, decoders and the unroll on hand-built batches: shapes per location and type, the
// symmetric adjacency, permutation encoding round trip, per-sample output freezing, and a tiny
// model that overfits a tiny dataset for each output type.
#include <gtest/gtest.h>
#include <torch/optim/adam.h>
#include <torch/torch.h>

#include "core/check.h"
#include "nar/gnn/decoders.h"
#include "nar/gnn/encoders.h"
#include "nar/gnn/evaluation.h"
#include "nar/gnn/losses.h"
#include "nar/gnn/net.h"
#include "support/expect_close.h"
#include "support/nar_tiny_task.h"

namespace scanlab::nar::gnn {
namespace {

using scanlab::testing::expect_close;
constexpr int64_t kB = 3, kN = 4, kH = 8;

SpecEntry in(const std::string& n, Location l, Type t) { return {n, Stage::Input, l, t}; }

TEST(NarGnnEncoders, ShapesAndSymmetricAdjacency) {
  torch::manual_seed(1);
  std::vector<Feature> fs = {
      {in("pos", Location::Node, Type::Scalar), at::rand({kB, kN})},
      {in("cat", Location::Node, Type::Categorical), at::one_hot(at::randint(3, {kB, kN}), 3).to(at::kFloat)},
      {in("ptr", Location::Node, Type::Pointer), at::tensor({1, 1, 1, 1, 0, 0, 0, 0, 3, 3, 3, 3}).view({kB, kN})},
      {in("w", Location::Edge, Type::Scalar), at::rand({kB, kN, kN})},
      {in("emask", Location::Edge, Type::Mask), at::zeros({kB, kN, kN}).index_put_({0, 2, 3}, 1.0)},
      {in("eptr", Location::Edge, Type::Pointer), at::randint(kN, {kB, kN, kN})},
      {in("g", Location::Graph, Type::Scalar), at::rand({kB})},
      {in("gptr", Location::Graph, Type::Pointer), at::randint(kN, {kB})},
  };
  std::vector<std::pair<SpecEntry, int64_t>> entries;
  for (const auto& f : fs) entries.emplace_back(f.entry, categories_of(f));
  Encoders enc(entries, kH, true);
  EncodedFeatures acc = enc.zeros(kB, kN, at::TensorOptions().dtype(at::kFloat));
  for (const auto& f : fs) enc.accumulate(f, acc);
  EXPECT_EQ(acc.nodes.sizes(), (std::vector<int64_t>{kB, kN, kH}));
  EXPECT_EQ(acc.edges.sizes(), (std::vector<int64_t>{kB, kN, kN, kH}));
  EXPECT_EQ(acc.graph.sizes(), (std::vector<int64_t>{kB, kH}));
  expect_close("adjacency is symmetric", acc.adj, acc.adj.transpose(1, 2), 0.0);
  // Sample 0: every node points to 1 -> edges (i,1) and (1,i); the edge mask adds (2,3); scalars add nothing.
  at::Tensor want = at::eye(kN);
  for (int64_t i = 0; i < kN; ++i) {
    want[i][1] = 1;
    want[1][i] = 1;
  }
  want[2][3] = 1;
  want[3][2] = 1;
  expect_close("adjacency of sample 0", want, acc.adj[0], 0.0);
  // A soft pointer (distribution rows) is accepted as is; a wrong trailing size is an error.
  EXPECT_EQ(dense_pointer({fs[2].entry, at::full({kB, kN, kN}, 0.25)}, kN).sizes(), (std::vector<int64_t>{kB, kN, kN}));
  EXPECT_THROW(dense_pointer({fs[2].entry, at::full({kB, kN, kN + 1}, 0.2)}, kN), scanlab::Error);
}

TEST(NarGnnDecoders, ShapesPerLocationAndType) {
  torch::manual_seed(2);
  const std::vector<std::pair<SpecEntry, std::vector<int64_t>>> cases = {
      {{"ns", Stage::Output, Location::Node, Type::Scalar}, {kB, kN}},
      {{"nm", Stage::Output, Location::Node, Type::Mask}, {kB, kN}},
      {{"no", Stage::Output, Location::Node, Type::MaskOne}, {kB, kN}},
      {{"nc", Stage::Output, Location::Node, Type::Categorical}, {kB, kN, 3}},
      {{"np", Stage::Output, Location::Node, Type::Pointer}, {kB, kN, kN}},
      {{"pp", Stage::Output, Location::Node, Type::PermutationPointer}, {kB, kN, kN}},
      {{"es", Stage::Output, Location::Edge, Type::Scalar}, {kB, kN, kN}},
      {{"ec", Stage::Output, Location::Edge, Type::Categorical}, {kB, kN, kN, 3}},
      {{"ep", Stage::Output, Location::Edge, Type::Pointer}, {kB, kN, kN, kN}},
      {{"gs", Stage::Output, Location::Graph, Type::Mask}, {kB}},
      {{"gc", Stage::Output, Location::Graph, Type::Categorical}, {kB, 3}},
      {{"gp", Stage::Output, Location::Graph, Type::Pointer}, {kB, kN}},
  };
  std::vector<std::pair<SpecEntry, int64_t>> entries;
  for (const auto& [e, _] : cases) entries.emplace_back(e, e.type == Type::Categorical ? 3 : 0);
  Decoders dec(entries, kH, kH);
  DecoderInputs x{at::randn({kB, kN, 3 * kH}), at::randn({kB, kN, kN, kH}), at::randn({kB, kH})};
  for (const auto& [e, shape] : cases) {
    const at::Tensor p = dec.decode(e, x, SinkhornOptions{});
    EXPECT_EQ(p.sizes(), at::IntArrayRef(shape)) << e.name;
    EXPECT_EQ(postprocess(e, p, Postprocess::Soft, 10).dim(), p.dim()) << e.name;
  }
  // Soft pointer rows are distributions; hard pointers are indices.
  const SpecEntry np = cases[4].first;
  expect_close("softmax rows", at::ones({kB, kN}), postprocess(np, dec.decode(np, x, {}), Postprocess::Soft, 0).sum(-1),
               1e-5);
  EXPECT_EQ(postprocess(np, dec.decode(np, x, {}), Postprocess::Hard, 0).sizes(), (std::vector<int64_t>{kB, kN}));
}

// The gradients every parameter of `m` gets from `loss`, in parameter order.
std::vector<at::Tensor> parameter_grads(torch::nn::Module& m, const at::Tensor& loss) {
  for (auto& p : m.parameters()) p.mutable_grad() = at::Tensor();
  loss.backward();
  std::vector<at::Tensor> g;
  for (auto& p : m.parameters()) g.push_back(p.grad().defined() ? p.grad().clone() : at::zeros_like(p));
  return g;
}

TEST(NarGnnEncoders, FusedAccumulationMatchesOneLayerAtATime) {
  torch::manual_seed(5);
  const std::vector<Feature> fs = {
      {in("pos", Location::Node, Type::Scalar), at::rand({kB, kN})},
      {in("m", Location::Node, Type::Mask), (at::rand({kB, kN}) > 0.5).to(at::kFloat)},
      {in("cat", Location::Node, Type::Categorical), at::one_hot(at::randint(3, {kB, kN}), 3).to(at::kFloat)},
      {in("ptr", Location::Node, Type::Pointer), at::randint(kN, {kB, kN})},
      {in("soft", Location::Node, Type::Pointer), at::softmax(at::randn({kB, kN, kN}), -1)},
      {in("w", Location::Edge, Type::Scalar), at::rand({kB, kN, kN})},
      {in("emask", Location::Edge, Type::Mask), (at::rand({kB, kN, kN}) > 0.7).to(at::kFloat)},
      {in("ecat", Location::Edge, Type::Categorical), at::one_hot(at::randint(2, {kB, kN, kN}), 2).to(at::kFloat)},
      {in("eptr", Location::Edge, Type::Pointer), at::randint(kN, {kB, kN, kN})},
      {in("g", Location::Graph, Type::Scalar), at::rand({kB})},
      {in("gcat", Location::Graph, Type::Categorical), at::one_hot(at::randint(3, {kB}), 3).to(at::kFloat)},
      {in("gptr", Location::Graph, Type::Pointer), at::randint(kN, {kB})},
  };
  std::vector<std::pair<SpecEntry, int64_t>> entries;
  for (const auto& f : fs) entries.emplace_back(f.entry, categories_of(f));
  Encoders enc(entries, kH, true);
  const auto opts = at::TensorOptions().dtype(at::kFloat);
  EncodedFeatures one = enc.zeros(kB, kN, opts), fused = enc.zeros(kB, kN, opts);
  for (const auto& f : fs) enc.accumulate(f, one);
  enc.accumulate_all(fs, fused);
  expect_close("nodes", one.nodes, fused.nodes, 1e-5);
  expect_close("edges", one.edges, fused.edges, 1e-5);
  expect_close("graph", one.graph, fused.graph, 1e-5);
  expect_close("adjacency", one.adj, fused.adj, 0.0);
  // Weights of the loss terms so that every accumulator and element matters.
  const at::Tensor wn = at::randn_like(one.nodes), we = at::randn_like(one.edges), wg = at::randn_like(one.graph);
  auto loss = [&](const EncodedFeatures& a) {
    return (a.nodes * wn).sum() + (a.edges * we).sum() + (a.graph * wg).sum();
  };
  const auto g_one = parameter_grads(enc, loss(one)), g_fused = parameter_grads(enc, loss(fused));
  ASSERT_EQ(g_one.size(), g_fused.size());
  for (size_t k = 0; k < g_one.size(); ++k) expect_close("gradient " + std::to_string(k), g_one[k], g_fused[k], 1e-4);
}

TEST(NarGnnDecoders, FusedDecodingMatchesOneDatapointAtATime) {
  torch::manual_seed(6);
  std::vector<SpecEntry> es;
  for (Location l : {Location::Node, Location::Edge, Location::Graph}) {
    for (Type t :
         {Type::Scalar, Type::Mask, Type::MaskOne, Type::Categorical, Type::Pointer, Type::PermutationPointer}) {
      if (t == Type::PermutationPointer && l != Location::Node) continue;
      es.push_back({to_string(l) + "_" + to_string(t), Stage::Hint, l, t});
    }
  }
  std::vector<std::pair<SpecEntry, int64_t>> entries;
  for (const auto& e : es) entries.emplace_back(e, e.type == Type::Categorical ? 3 : 0);
  Decoders dec(entries, kH, 2 * kH);
  const DecoderInputs x{at::randn({kB, kN, 3 * kH}), at::randn({kB, kN, kN, 2 * kH}), at::randn({kB, kH})};
  const SinkhornOptions sinkhorn{};
  const auto fused = dec.decode_all(es, x, sinkhorn);
  ASSERT_EQ(fused.size(), es.size());
  at::Tensor loss_one = at::zeros({}), loss_fused = at::zeros({});
  for (const auto& e : es) {
    const at::Tensor one = dec.decode(e, x, sinkhorn);
    expect_close(e.name, one, fused.at(e.name), 1e-5);
    const at::Tensor w = at::randn_like(one);
    loss_one = loss_one + (one * w).sum();
    loss_fused = loss_fused + (fused.at(e.name) * w).sum();
  }
  const auto g_one = parameter_grads(dec, loss_one), g_fused = parameter_grads(dec, loss_fused);
  for (size_t k = 0; k < g_one.size(); ++k) expect_close("gradient " + std::to_string(k), g_one[k], g_fused[k], 1e-4);
  // A subset decodes the same as the full set.
  const auto some = dec.decode_all({es[4], es[0]}, x, sinkhorn);
  expect_close("subset", fused.at(es[4].name), some.at(es[4].name), 1e-6);
}

TEST(NarGnnFeatures, FusingThePermutationEncodingGivesBackThePointers) {
  // Order 2 -> 0 -> 3 -> 1: pred[0] = 2, pred[3] = 0, pred[1] = 3, and the first node (2) points to
  // itself. CLRS's encoding re-points the first node to the last (1) and marks it in the mask.
  at::Tensor perm = at::zeros({1, 4, 4});
  perm[0][0][2] = 1;
  perm[0][3][0] = 1;
  perm[0][1][3] = 1;
  perm[0][2][1] = 1;
  const at::Tensor mask = at::one_hot(at::tensor({2}).to(at::kLong), 4).to(at::kFloat);
  EXPECT_TRUE(at::equal(fuse_permutation_and_mask(perm, mask), at::tensor({2, 3, 2, 0}).to(at::kLong).view({1, 4})));
}

double train_tiny(const SpecEntry& e, const std::string& processor, int steps = 400) {
  torch::manual_seed(11);
  const FeatureBatch data = tiny_task(e, 8, 5);
  NetOptions o;
  o.processor.kind = processor;
  o.processor.hidden = 32;
  Net net(data, o);
  net.train();
  torch::optim::Adam adam(net.parameters(), torch::optim::AdamOptions(3e-3));
  for (int step = 0; step < steps; ++step) {
    adam.zero_grad();
    const at::Tensor loss = net_loss(net.forward(data), data, net);
    loss.backward();
    adam.step();
  }
  net.eval();
  at::NoGradGuard no_grad;
  const NetPrediction p = net.forward(data);
  if (e.type == Type::Scalar) return scalar_loss(p.outputs.at(e.name), data.outputs[0].data).term.mean().item<double>();
  return score_outputs(hard_outputs(p, net), data.outputs).score;
}

TEST(NarGnnNet, TinyModelOverfitsEveryOutputType) {
  const std::vector<SpecEntry> outs = {
      {"mask", Stage::Output, Location::Node, Type::Mask},
      {"one", Stage::Output, Location::Node, Type::MaskOne},
      {"cat", Stage::Output, Location::Node, Type::Categorical},
      {"ptr", Stage::Output, Location::Node, Type::Pointer},
      {"perm", Stage::Output, Location::Node, Type::PermutationPointer},
      {"less", Stage::Output, Location::Edge, Type::Mask},
      {"argmin", Stage::Output, Location::Graph, Type::Pointer},
  };
  for (const auto& e : outs) EXPECT_GE(train_tiny(e, "mpnn"), 0.99) << e.name;
  EXPECT_LT(train_tiny({"twice", Stage::Output, Location::Node, Type::Scalar}, "mpnn"), 1e-3);
  // A graph-level regression read through a max over nodes converges slowest; it gets more steps.
  EXPECT_LT(train_tiny({"sum", Stage::Output, Location::Graph, Type::Scalar}, "mpnn", 1000), 1e-2);
}

TEST(NarGnnEvaluation, ScoreIsTheMeanOverOutputsWithScalarMseNegated) {
  const std::vector<Feature> truth = {
      {{"m", Stage::Output, Location::Node, Type::Mask}, at::tensor({1.0, 0.0, 1.0, 0.0}).view({1, 4})},
      {{"s", Stage::Output, Location::Graph, Type::Scalar}, at::tensor({2.0})},
      {{"p", Stage::Output, Location::Node, Type::Pointer}, at::tensor({0, 0, 1, 2}).to(at::kLong).view({1, 4})}};
  const std::map<std::string, at::Tensor> hard = {{"m", at::tensor({1.0, 0.0, 0.0, 0.0}).view({1, 4})},  // F1 2/3
                                                  {"s", at::tensor({1.0})},                              // MSE 1
                                                  {"p", at::tensor({0, 0, 1, 1}).to(at::kLong).view({1, 4})}};  // 3/4
  const OutputScores s = score_outputs(hard, truth);
  EXPECT_NEAR(s.per_output.at("m"), 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(s.per_output.at("s"), 1.0, 1e-12);
  EXPECT_NEAR(s.score, (2.0 / 3.0 - 1.0 + 0.75) / 3.0, 1e-12);
  EXPECT_THROW(score_outputs({}, truth), scanlab::Error);
}

TEST(NarGnnNet, OutputsFreezeAtEachSamplesLength) {
  torch::manual_seed(4);
  const FeatureBatch data = tiny_task({"mask", Stage::Output, Location::Node, Type::Mask}, 2, 9);  // lengths 3, 2
  for (const std::string proc : {"pgn", "gat", "triplet_gmpnn"}) {
    NetOptions o;
    o.processor.kind = proc;
    o.processor.hidden = kH;
    Net net(data, o);
    net.eval();
    at::NoGradGuard no_grad;
    const NetPrediction full = net.forward(data);
    EXPECT_EQ(full.steps, 2);
    ASSERT_EQ(full.hints.size(), 2u);
    // Sample 1 (length 2) alone, with its hints cut to 2 steps, runs 1 step: same outputs.
    FeatureBatch one = data;
    for (auto& f : one.inputs) f.data = f.data.slice(0, 1, 2);
    for (auto& f : one.outputs) f.data = f.data.slice(0, 1, 2);
    for (auto& f : one.hints) f.data = f.data.slice(1, 1, 2).slice(0, 0, 2);
    one.lengths = data.lengths.slice(0, 1, 2);
    const NetPrediction alone = net.forward(one);
    EXPECT_EQ(alone.steps, 1);
    expect_close(proc + " frozen output", alone.outputs.at("mask")[0], full.outputs.at("mask")[1], 1e-5);
    // Sample 0 (length 3) takes step 1's output, which differs from what it had after step 0.
    FeatureBatch first = data;
    for (auto& f : first.inputs) f.data = f.data.slice(0, 0, 1);
    for (auto& f : first.outputs) f.data = f.data.slice(0, 0, 1);
    for (auto& f : first.hints) f.data = f.data.slice(1, 0, 1).slice(0, 0, 2);
    first.lengths = at::full({1}, 2, at::kLong);
    EXPECT_GT((net.forward(first).outputs.at("mask")[0] - full.outputs.at("mask")[0]).abs().max().item<double>(), 1e-6);
  }
}

TEST(NarGnnNet, PaddingTheHintAxisChangesNothing) {
  // The unroll stops at the batch's longest sample; steps past it would only predict masked hints.
  torch::manual_seed(7);
  const FeatureBatch data = tiny_task({"ptr", Stage::Output, Location::Node, Type::Pointer}, 4, 3);  // lengths 3, 2
  FeatureBatch padded = data;
  for (auto& f : padded.hints) f.data = at::cat({f.data, at::zeros_like(f.data)}, 0);  // T 3 -> 6
  NetOptions o;
  o.processor.hidden = kH;
  Net net(data, o);
  net.train();
  const NetPrediction a = net.forward(data), b = net.forward(padded);
  EXPECT_EQ(a.steps, 2);
  EXPECT_EQ(b.steps, 2);
  expect_close("outputs", a.outputs.at("ptr"), b.outputs.at("ptr"), 0.0);
  expect_close("loss", net_loss(a, data, net), net_loss(b, padded, net), 1e-6);
}

TEST(NarGnnNet, MismatchedBatchesAreErrors) {
  FeatureBatch data = tiny_task({"mask", Stage::Output, Location::Node, Type::Mask}, 2, 9);
  NetOptions o;
  o.processor.hidden = kH;
  Net net(data, o);
  FeatureBatch bad = data;
  bad.inputs.pop_back();  // no "key"
  EXPECT_THROW(net.forward(bad), scanlab::Error);
  bad = data;
  bad.hints[0].data = bad.hints[0].data.slice(2, 0, 3);  // 3 nodes instead of 4
  EXPECT_THROW(bad.validate(), scanlab::Error);
}

}  // namespace
}  // namespace scanlab::nar::gnn
