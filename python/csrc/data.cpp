// Data generators from Python: NAR datasets (nar/) as the bytes of the .npz file `scanlab nar sample`
// writes (scanlab/nar.py opens them with numpy.load, so Python sees the file's arrays exactly), and
// the MQAR and state-tracking tasks (tasks/) as (inputs, labels) int64 tensors.
#include <pybind11/stl.h>

#include "bindings.h"
#include "core/check.h"
#include "nar/algorithms/registry.h"
#include "nar/dataset.h"
#include "nar/dataset_io.h"
#include "tasks/flip_flop.h"
#include "tasks/mqar.h"
#include "tasks/word_problem.h"

namespace py = pybind11;

namespace scanlab::python {
namespace {

py::bytes nar_sample_npz(const std::string& algorithm, int64_t nodes, int64_t count, int64_t seed, bool random_pos,
                         bool pred_as_input, bool enforce_permutations, const std::string& split) {
  nar::DatasetOptions opts;
  opts.algorithm = algorithm;
  opts.nodes = nodes, opts.count = count;
  SCANLAB_CHECK(seed >= 0 && seed <= int64_t{0xffffffff}, "nar.sample: seed is ", seed,
                "; expected 0 to 2^32 - 1 (numpy RandomState seeds)");
  opts.seed = static_cast<uint32_t>(seed);
  opts.random_pos = random_pos, opts.pred_as_input = pred_as_input;
  opts.enforce_permutations = enforce_permutations;
  if (!split.empty()) {
    const auto s = nar::clrs30_split(algorithm, split);
    opts.nodes = s.nodes, opts.count = s.count, opts.seed = s.seed;
  }
  SCANLAB_CHECK(opts.count >= 1, "nar.sample: count is ", opts.count, "; expected at least 1");
  std::string bytes;
  {
    py::gil_scoped_release no_gil;
    bytes = nar::encode_dataset(nar::DatasetFile{nar::make_batch(nar::sample_dataset(opts)), opts});
  }
  return py::bytes(bytes);
}

tasks::Split parse_split(const std::string& split) {
  if (split == "train") return tasks::Split::Train;
  if (split == "val" || split == "validation") return tasks::Split::Validation;
  throw scanlab::Error("split \"" + split + "\"; expected \"train\" or \"val\"");
}

std::pair<at::Tensor, at::Tensor> examples(const tasks::Task& task, const std::string& split, int64_t first,
                                           int64_t count) {
  auto batch = task.range(parse_split(split), first, count);
  return {batch.inputs, batch.labels};
}

}  // namespace

void bind_data(py::module_& m) {
  auto nar = m.def_submodule("nar", "CLRS-style algorithm trajectories");
  nar.def(
      "algorithms",
      [] {
        std::vector<std::tuple<std::string, std::string, bool>> out;
        for (const auto& a : nar::algorithm_registry()) out.emplace_back(a.name, a.family, a.parallel);
        return out;
      },
      "(name, family, parallel) of every registered algorithm");
  nar.def("sample_npz", &nar_sample_npz, py::arg("algorithm"), py::arg("nodes"), py::arg("count"), py::arg("seed"),
          py::arg("random_pos"), py::arg("pred_as_input"), py::arg("enforce_permutations"), py::arg("split"));

  auto t = m.def_submodule("tasks", "MQAR and state-tracking task generators");
  t.def(
      "mqar",
      [](int64_t vocab_size, int64_t seq_len, int64_t num_kv_pairs, double power_a, int64_t min_query_distance,
         bool random_non_queries, uint64_t seed, const std::string& split, int64_t first, int64_t count) {
        tasks::MqarOptions o;
        o.vocab_size = vocab_size, o.seq_len = seq_len, o.num_kv_pairs = num_kv_pairs, o.power_a = power_a;
        o.min_query_distance = min_query_distance, o.random_non_queries = random_non_queries;
        o.seed = seed, o.val_seed = seed + 10;  // Zoology's validation seed
        o.num_train = o.num_val = first + count;
        return examples(tasks::MqarTask(o), split, first, count);
      },
      py::arg("vocab_size"), py::arg("seq_len"), py::arg("num_kv_pairs"), py::arg("power_a"),
      py::arg("min_query_distance"), py::arg("random_non_queries"), py::arg("seed"), py::arg("split"), py::arg("first"),
      py::arg("count"));
  t.def(
      "word_problem",
      [](const std::string& group, int64_t seq_len, uint64_t seed, const std::string& split, int64_t first,
         int64_t count) {
        tasks::WordProblemOptions o;
        o.group = group, o.seq_len = seq_len, o.seed = seed, o.val_seed = seed + 10;
        o.num_train = o.num_val = first + count;
        tasks::WordProblemTask task(o);
        auto [inputs, labels] = examples(task, split, first, count);
        return std::make_tuple(inputs, labels, task.vocab_size());
      },
      py::arg("group"), py::arg("seq_len"), py::arg("seed"), py::arg("split"), py::arg("first"), py::arg("count"));
  t.def(
      "flip_flop",
      [](int64_t num_values, int64_t num_distractors, double write_prob, int64_t seq_len, uint64_t seed,
         const std::string& split, int64_t first, int64_t count) {
        tasks::FlipFlopOptions o;
        o.num_values = num_values, o.num_distractors = num_distractors, o.write_prob = write_prob;
        o.seq_len = seq_len, o.seed = seed, o.val_seed = seed + 10;  // as experiment files default it
        o.num_train = o.num_val = first + count;
        tasks::FlipFlopTask task(o);
        auto [inputs, labels] = examples(task, split, first, count);
        return std::make_tuple(inputs, labels, task.vocab_size());
      },
      py::arg("num_values"), py::arg("num_distractors"), py::arg("write_prob"), py::arg("seq_len"), py::arg("seed"),
      py::arg("split"), py::arg("first"), py::arg("count"));
}

}  // namespace scanlab::python
