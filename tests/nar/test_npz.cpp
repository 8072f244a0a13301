// .npz round trips: scanlab reads back what it wrote for every algorithm, numpy.load reads it with
// the documented names, shapes and values, numpy's own files load, and malformed files are
// rejected with errors naming the problem.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "core/atomic_file.h"
#include "nar/algorithms/registry.h"
#include "nar/dataset_io.h"
#include "nar/npz.h"
#include "support/nar_test_util.h"

namespace scanlab::nar {
namespace {

DatasetFile small_dataset(const std::string& algorithm, int64_t n, int64_t count) {
  DatasetOptions o;
  o.algorithm = algorithm, o.nodes = n, o.count = count, o.seed = 4;
  return {make_batch(sample_dataset(o)), o};
}

void expect_rejected(const std::string& bytes, const std::string& fragment) {
  try {
    decode_dataset(bytes, "bad.npz");
    FAIL() << "expected an error containing '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad.npz"), std::string::npos) << e.what();
  }
}

TEST(NarNpz, EveryAlgorithmRoundTrips) {
  for (const auto& a : algorithm_registry()) {
    const auto file = small_dataset(a.name, std::max<int64_t>(min_nodes(a), 7), 3);
    const auto back = decode_dataset(encode_dataset(file), a.name);
    EXPECT_EQ(back.batch.algorithm, a.name);
    EXPECT_EQ(back.batch.lengths, file.batch.lengths);
    EXPECT_EQ(back.options.seed, 4u);
    ASSERT_EQ(back.batch.data.size(), file.batch.data.size());
    for (size_t k = 0; k < file.batch.data.size(); ++k) {
      EXPECT_EQ(back.batch.data[k].entry, file.batch.data[k].entry);
      EXPECT_EQ(back.batch.data[k].value, file.batch.data[k].value) << a.name << " " << file.batch.data[k].entry.name;
    }
  }
}

TEST(NarNpz, NumpyLoadsTheFile) {
  if (!testing::python_numpy_available()) GTEST_SKIP() << "/usr/bin/python3 has no numpy (apt install python3-numpy)";
  const std::string path = std::string(::testing::TempDir()) + "/nar_oets.npz";
  const auto file = small_dataset("odd_even_transposition_sort", 5, 3);
  save_dataset(path, file);
  int status = 0;
  const auto out = testing::run_python(R"(
import json, numpy as np
d = np.load(')" + path + R"(')
meta = json.loads(str(d['meta']))
assert sorted(d.files) == sorted(['input_pos', 'input_key', 'output_pred', 'hint_round', 'hint_permutation',
                                  'hint_pred_h', 'lengths', 'meta']), d.files
assert meta['algorithm'] == 'odd_even_transposition_sort' and meta['nodes'] == 5
assert d['hint_permutation'].shape == (3, 6, 5, 5) and d['hint_permutation'].dtype == np.float64
assert d['hint_pred_h'].dtype == np.int64 and d['output_pred'].shape == (3, 5)
assert list(d['lengths']) == [6, 6, 6]
assert np.allclose(d['input_pos'][0], np.arange(5) / 5)
print(repr(float(d['input_key'][2, 3])), int(d['output_pred'][1].sum()), int(d['hint_pred_h'][0, 2, 4]))
)",
                                       &status);
  ASSERT_EQ(status, 0) << out;
  const auto& key = file.batch.get("key").value.data;
  const auto& pred = file.batch.get("pred").value.data;
  double pred_sum = 0;
  for (int i = 5; i < 10; ++i) pred_sum += pred[i];
  const double hint = file.batch.get("pred_h").value.data[(0 * 6 + 2) * 5 + 4];
  EXPECT_EQ(std::stod(out.substr(0, out.find(' '))), key[2 * 5 + 3]) << out;
  EXPECT_NE(out.find(" " + std::to_string(static_cast<int>(pred_sum)) + " " + std::to_string(static_cast<int>(hint))),
            std::string::npos)
      << out;
}

TEST(NarNpz, ReadsNumpySavez) {
  if (!testing::python_numpy_available()) GTEST_SKIP() << "/usr/bin/python3 has no numpy (apt install python3-numpy)";
  const std::string path = std::string(::testing::TempDir()) + "/nar_numpy_written.npz";
  int status = 0;
  const auto out = testing::run_python("import numpy as np\nnp.savez('" + path +
                                           "', a=np.arange(6, dtype=np.int64).reshape(2, 3), b=np.array([0.5, -1.25]), "
                                           "c=np.float32(2.5).reshape(()), s=np.array('hi'))\n",
                                       &status);
  ASSERT_EQ(status, 0) << out;
  const auto members = decode_npz(read_file(path), path);
  ASSERT_EQ(members.size(), 4u);
  EXPECT_EQ(members[0].first, "a");
  EXPECT_EQ(members[0].second.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(members[0].second.as_doubles("a"), (std::vector<double>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(members[1].second.as_doubles("b"), (std::vector<double>{0.5, -1.25}));
  EXPECT_EQ(members[2].second.as_doubles("c"), (std::vector<double>{2.5}));
  EXPECT_EQ(members[3].second.as_text("s"), "hi");
}

TEST(NarNpz, MalformedFilesAreRejected) {
  const auto good = encode_dataset(small_dataset("parallel_search", 4, 2));
  expect_rejected("", "too short");
  expect_rejected(std::string(100, 'x'), "no zip end-of-central-directory");
  expect_rejected(good.substr(0, good.size() - 7), "no zip end-of-central-directory");
  auto flipped = good;
  flipped[120] ^= 0x40;  // inside the first member's data (header 43 + npy header 64 bytes)
  expect_rejected(flipped, "CRC-32 mismatch");
  auto compressed = good;
  const size_t cd = good.rfind(std::string("PK\x01\x02", 4));  // last central entry
  compressed[cd + 10] = 8;                                     // method: deflate
  expect_rejected(compressed, "compression method 8");
  // Valid zips of valid arrays that are not valid datasets:
  auto members = decode_npz(good, "good");
  auto without = [&](const std::string& name) {
    NpzMembers m;
    for (const auto& kv : members)
      if (kv.first != name) m.push_back(kv);
    return m;
  };
  expect_rejected(encode_npz(without("meta")), "missing array 'meta'");
  expect_rejected(encode_npz(without("hint_leq_target")), "missing array 'hint_leq_target'");
  auto extra = members;
  extra.emplace_back("hint_extra", NpyArray::f64({2}, {0, 0}));
  expect_rejected(encode_npz(extra), "unexpected array 'hint_extra'");
  auto wrong_dtype = members;
  for (auto& kv : wrong_dtype)
    if (kv.first == "output_return") kv.second = NpyArray::f64(kv.second.shape, kv.second.as_doubles("x"));
  expect_rejected(encode_npz(wrong_dtype), "dtype <f8, expected <i8");
  auto bad_mask = members;
  for (auto& kv : bad_mask)
    if (kv.first == "hint_leq_target") {
      auto v = kv.second.as_doubles("x");
      v[1] = 0.5;
      kv.second = NpyArray::f64(kv.second.shape, v);
    }
  expect_rejected(encode_npz(bad_mask), "not 0, 1 or -1");
  auto bad_length = members;
  for (auto& kv : bad_length)
    if (kv.first == "lengths") kv.second = NpyArray::i64({2}, {1, -3});
  expect_rejected(encode_npz(bad_length), "sample 1 has length -3");
  auto odd_dtype = members;
  odd_dtype[0].second.descr = "<Ux";
  expect_rejected(encode_npz(odd_dtype), "'x' is not a valid size");
  auto bad_shape = members;
  for (auto& kv : bad_shape)
    if (kv.first == "input_key") kv.second = NpyArray::f64({2, 4}, std::vector<double>(8, 0.0));
  expect_rejected(encode_npz(bad_shape), "shape [4], expected [5]");
}

TEST(NarNpz, UnwritablePathIsAnError) {
  EXPECT_THROW(save_dataset("/nonexistent-dir/x.npz", small_dataset("minimum", 3, 1)), Error);
  EXPECT_THROW(load_dataset("/nonexistent-dir/x.npz"), Error);
}

}  // namespace
}  // namespace scanlab::nar
