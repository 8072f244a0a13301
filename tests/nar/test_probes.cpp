// Probe recorder and validation: malformed values are rejected with messages naming them.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "core/check.h"
#include "nar/probes.h"

namespace scanlab::nar {
namespace {

const Spec kSpec{
    {"pos", Stage::Input, Location::Node, Type::Scalar},   {"out", Stage::Output, Location::Node, Type::Pointer},
    {"m", Stage::Hint, Location::Node, Type::Mask},        {"one", Stage::Hint, Location::Node, Type::MaskOne},
    {"c", Stage::Hint, Location::Node, Type::Categorical}, {"e", Stage::Hint, Location::Edge, Type::Mask},
    {"g", Stage::Hint, Location::Graph, Type::Scalar}};

Snapshot good_hint(int64_t step) {
  return {{"m", probe::values({1, 0, -1})},
          {"one", probe::mask_one(step % 3, 3)},
          {"c", probe::categorical({0, 1, 1}, 2)},
          {"e", probe::graph(std::vector<double>(9, 0.0), 3)},
          {"g", probe::scalar(0.5 * step)}};
}

void expect_error(const std::function<void()>& f, const std::string& fragment) {
  try {
    f();
    FAIL() << "expected a scanlab::Error containing '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(NarProbes, FinalizeStacksHintsOverTime) {
  ProbeRecorder rec("toy", kSpec, 3);
  rec.push(Stage::Input, {{"pos", probe::values(probe::positions(3, 3))}});
  for (int s = 0; s < 4; ++s) rec.push(Stage::Hint, good_hint(s));
  rec.push(Stage::Output, {{"out", probe::pointers({0, 0, 1})}});
  const auto t = rec.finalize();
  EXPECT_EQ(t.length, 4);
  EXPECT_EQ(t.get("c").value.shape, (std::vector<int64_t>{4, 3, 2}));
  EXPECT_EQ(t.get("e").value.shape, (std::vector<int64_t>{4, 3, 3}));
  EXPECT_EQ(t.get("g").value.shape, (std::vector<int64_t>{4}));
  EXPECT_EQ(t.get("g").value.data, (std::vector<double>{0, 0.5, 1.0, 1.5}));
  EXPECT_EQ(t.get("one").value.data[3 * 1 + 1], 1.0);
  EXPECT_NO_THROW(validate(t));
}

TEST(NarProbes, RejectsMalformedHints) {
  auto push_with = [](const std::string& name, Array v) {
    ProbeRecorder rec("toy", kSpec, 3);
    auto h = good_hint(0);
    for (auto& kv : h)
      if (kv.first == name) kv.second = v;
    rec.push(Stage::Hint, h);
  };
  expect_error([&] { push_with("m", probe::values({1, 2, 0})); }, "not 0, 1 or -1");
  expect_error([&] { push_with("one", probe::values({1, 1, 0})); }, "not one-hot");
  expect_error([&] { push_with("one", probe::values({0, 0, 0})); }, "not one-hot");
  expect_error([&] { push_with("c", Array{{3, 2}, {1, 0, 1, 1, 0, 1}}); }, "not one-hot");
  expect_error([&] { push_with("e", probe::values({1, 0, 0})); }, "shape [3], expected [3, 3]");
  expect_error([&] { push_with("g", probe::scalar(std::nan(""))); }, "not finite");
  ProbeRecorder rec("toy", kSpec, 3);
  auto missing = good_hint(0);
  missing.pop_back();
  expect_error([&] { rec.push(Stage::Hint, missing); }, "missing 'g'");
  auto extra = good_hint(0);
  extra.push_back({"zzz", probe::scalar(1)});
  expect_error([&] { rec.push(Stage::Hint, extra); }, "not hints of the spec");
  expect_error([&] { rec.push(Stage::Output, {{"out", probe::pointers({0, 3, 1})}}); }, "not a node index");
  rec.push(Stage::Input, {{"pos", probe::values({0, 0.5, 1})}});
  expect_error([&] { rec.push(Stage::Input, {{"pos", probe::values({0, 0.5, 1})}}); }, "pushed twice");
  expect_error([&] { rec.finalize(); }, "at least one hint");
}

TEST(NarProbes, ValidateRejectsTamperedTrajectories) {
  ProbeRecorder rec("toy", kSpec, 3);
  rec.push(Stage::Input, {{"pos", probe::values(probe::positions(3, 3))}});
  rec.push(Stage::Hint, good_hint(0));
  rec.push(Stage::Hint, good_hint(1));
  rec.push(Stage::Output, {{"out", probe::pointers({0, 0, 1})}});
  const auto t = rec.finalize();
  auto bad_mask = t;
  bad_mask.get("m").value.data[4] = 0.5;  // step 1, node 1
  expect_error([&] { validate(bad_mask); }, "hint at step 1 'm'");
  auto bad_length = t;
  bad_length.length = 3;
  expect_error([&] { validate(bad_length); }, "does not start with the length 3");
  auto bad_one = t;
  bad_one.get("one").value.data[1] = 1.0;  // step 0 now has two ones
  expect_error([&] { validate(bad_one); }, "not one-hot");
}

TEST(NarProbes, ArrayOrderGivesPredecessorPointers) {
  EXPECT_EQ(probe::array_order({2, 0, 3, 1}).data, (std::vector<double>{2, 3, 2, 0}));
  EXPECT_EQ(probe::graph({0, 1, 0, 0}, 2).data, (std::vector<double>{1, 1, 0, 1}));
  EXPECT_EQ(parse_type("should_be_permutation"), Type::ShouldBePermutation);
  expect_error([] { parse_location("vertex"); }, "expected one of node, edge, graph");
}

}  // namespace
}  // namespace scanlab::nar
