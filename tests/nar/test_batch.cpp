// Batches: zero padding to the longest trajectory, per-sample lengths, unbatch inverts, and the
// tensor view has CLRS shapes (batch first) and dtypes.
#include <gtest/gtest.h>

#include "core/check.h"

#include "nar/algorithms/algorithms.h"
#include "nar/batch.h"

namespace scanlab::nar {
namespace {

TEST(NarBatch, PadsHintsAndKeepsLengths) {
  // Parallel SCC trajectories differ in length; the batch pads to the longest with zeros.
  std::vector<double> chain(16, 0.0), loop(16, 0.0);
  chain[0 * 4 + 1] = chain[1 * 4 + 2] = chain[2 * 4 + 3] = 1.0;
  loop[0 * 4 + 1] = loop[1 * 4 + 0] = 1.0;
  const std::vector<Trajectory> ts{parallel_scc(chain, 4), parallel_scc(loop, 4)};
  ASSERT_NE(ts[0].length, ts[1].length);
  const auto b = make_batch(ts);
  EXPECT_EQ(b.lengths, (std::vector<int64_t>{ts[0].length, ts[1].length}));
  const int64_t T = std::max(ts[0].length, ts[1].length);
  EXPECT_EQ(b.get("desc").value.shape, (std::vector<int64_t>{2, T, 4}));
  EXPECT_EQ(b.get("A").value.shape, (std::vector<int64_t>{2, 4, 4}));
  const int64_t shorter = ts[0].length < ts[1].length ? 0 : 1;
  const auto& desc = b.get("desc").value.data;
  for (int64_t s = ts[shorter].length; s < T; ++s)
    for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(desc[(shorter * T + s) * 4 + i], 0.0);
  for (int b_i = 0; b_i < 2; ++b_i) {
    const auto back = unbatch(b, b_i);
    for (size_t k = 0; k < back.data.size(); ++k) EXPECT_EQ(back.data[k].value, ts[b_i].data[k].value);
  }
  EXPECT_THROW(make_batch({parallel_scc(chain, 4), strongly_connected_components(chain, 4)}), Error);
  EXPECT_THROW(make_batch({insertion_sort({1, 2}), insertion_sort({1, 2, 3})}), Error);
}

TEST(NarBatch, TensorsHaveClrsShapesAndDtypes) {
  const auto b = make_batch({strongly_connected_components(std::vector<double>(25, 1.0), 5),
                             strongly_connected_components(std::vector<double>(25, 0.0), 5)});
  const auto t = to_tensors(b);
  const int64_t T = b.max_length();
  EXPECT_EQ(t.lengths.sizes().vec(), (std::vector<int64_t>{2}));
  EXPECT_EQ(t.lengths[0].item<int64_t>(), 5 * 5 + 1);  // one SCC
  EXPECT_EQ(t.lengths[1].item<int64_t>(), 5 * 5 + 5);  // five SCCs
  EXPECT_EQ(t.inputs.at("A").sizes().vec(), (std::vector<int64_t>{2, 5, 5}));
  EXPECT_EQ(t.hints.at("color").sizes().vec(), (std::vector<int64_t>{2, T, 5, 3}));
  EXPECT_EQ(t.hints.at("time").sizes().vec(), (std::vector<int64_t>{2, T}));
  EXPECT_EQ(t.hints.at("s_prev").scalar_type(), at::kLong);
  EXPECT_EQ(t.hints.at("d").scalar_type(), at::kFloat);
  EXPECT_EQ(t.outputs.at("scc_id").sizes().vec(), (std::vector<int64_t>{2, 5}));
  EXPECT_EQ(t.outputs.at("scc_id")[0].sum().item<int64_t>(), 5 * t.outputs.at("scc_id")[0][0].item<int64_t>());
  EXPECT_EQ(T, 30);
  EXPECT_GT(t.hints.at("d")[0][25].sum().item<float>(), 0.0f);     // sample 0's last step (T = 26)
  EXPECT_EQ(t.hints.at("d")[0][T - 1].sum().item<float>(), 0.0f);  // then zero padding
}

}  // namespace
}  // namespace scanlab::nar
