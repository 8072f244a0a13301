// Datasets: fixed seeds reproduce bit for bit, CLRS30 split sizes, the three transforms.
#include <gtest/gtest.h>

#include <algorithm>

#include "nar/algorithms/algorithms.h"
#include "nar/algorithms/registry.h"
#include "nar/dataset.h"
#include "nar/dataset_io.h"
#include "support/nar_test_util.h"

namespace scanlab::nar {
namespace {

std::string dataset_bytes(const DatasetOptions& o) { return encode_dataset({make_batch(sample_dataset(o)), o}); }

TEST(NarDataset, FixedSeedsReproduceBitForBit) {
  for (const auto& a : algorithm_registry()) {
    DatasetOptions o;
    o.algorithm = a.name, o.nodes = std::max<int64_t>(min_nodes(a), 6), o.count = 5, o.seed = 9;
    o.random_pos = true;
    const auto first = dataset_bytes(o);
    EXPECT_EQ(first, dataset_bytes(o)) << a.name;
    o.seed = 10;
    EXPECT_NE(first, dataset_bytes(o)) << a.name;
  }
}

TEST(NarDataset, ClrsSplitsAndTheirSizes) {
  const auto train = clrs30_split("binary_search", "train");
  EXPECT_EQ(train.count, 1000);
  EXPECT_EQ(train.nodes, 16);
  EXPECT_EQ(train.seed, 1u);
  const auto val = clrs30_split("binary_search", "val"), test = clrs30_split("parallel_scc", "test");
  EXPECT_EQ(val.count, 32 * 64);
  EXPECT_EQ(val.seed, 2u);
  EXPECT_EQ(test.count, 32);
  EXPECT_EQ(test.nodes, 64);
  EXPECT_EQ(test.seed, 3u);
  EXPECT_THROW(clrs30_split("binary_search", "dev"), Error);
  // The sequential and parallel SCC tasks see the same graphs (no algorithm draws randomness).
  DatasetOptions k = clrs30_split("strongly_connected_components", "val"), p = k;
  p.algorithm = "parallel_scc";
  k.count = p.count = 8;
  const auto ks = sample_dataset(k), ps = sample_dataset(p);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(ks[i].get("A").value, ps[i].get("A").value);
}

TEST(NarDataset, RandomPosIsSortedAndLeavesInputsAlone) {
  DatasetOptions o;
  o.algorithm = "bubble_sort", o.nodes = 12, o.count = 4, o.seed = 2;
  const auto plain = sample_dataset(o);
  o.random_pos = true;
  const auto moved = sample_dataset(o);
  for (int i = 0; i < 4; ++i) {
    const auto& pos = moved[i].get("pos").value.data;
    EXPECT_TRUE(std::is_sorted(pos.begin(), pos.end()));
    EXPECT_NE(pos, plain[i].get("pos").value.data);
    for (double x : pos) EXPECT_TRUE(x >= 0.0 && x < 1.0);
    EXPECT_EQ(moved[i].get("key").value, plain[i].get("key").value);
  }
}

TEST(NarDataset, PredAsInputAndPermutationEncoding) {
  DatasetOptions o;
  o.algorithm = "binary_search", o.nodes = 8, o.count = 1, o.pred_as_input = true;
  const auto t = sample_dataset(o).front();
  EXPECT_EQ(t.get("pred").entry.stage, Stage::Input);
  EXPECT_EQ(t.get("pred").value.data, (std::vector<double>{0, 0, 1, 2, 3, 4, 5, 6}));
  EXPECT_THROW(t.get("pred_h"), Error);
  EXPECT_NO_THROW(validate(t));

  // keys 0.3 0.1 0.2: sorted order is nodes 1 2 0, pred = [2, 1, 1]
  auto s = bubble_sort({0.3, 0.1, 0.2});
  apply_permutations(s);
  const auto& p = s.get("pred");
  EXPECT_EQ(p.entry.type, Type::PermutationPointer);
  // Node 1 (first) now points to node 0 (last); node 2 -> 1, node 0 -> 2.
  EXPECT_EQ(p.value.data, (std::vector<double>{0, 0, 1, 1, 0, 0, 0, 1, 0}));
  EXPECT_EQ(s.get("pred_mask").value.data, (std::vector<double>{0, 1, 0}));
  EXPECT_NO_THROW(validate(s));
}

TEST(NarDataset, BadRequestsNameTheProblem) {
  DatasetOptions o;
  o.algorithm = "quick_sort";
  try {
    sample_dataset(o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("known algorithms: binary_search"), std::string::npos) << e.what();
  }
  o.algorithm = "strongly_connected_components", o.nodes = 3;
  EXPECT_THROW(sample_dataset(o), Error);
  o.nodes = 1000;
  EXPECT_THROW(sample_dataset(o), Error);
}

}  // namespace
}  // namespace scanlab::nar
