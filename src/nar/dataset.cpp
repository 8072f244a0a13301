// Sampling datasets and the CLRS stream transforms.
#include "nar/dataset.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/check.h"
#include "core/memory.h"
#include "nar/algorithms/registry.h"

namespace scanlab::nar {
namespace {

Trajectory draw_one(const AlgorithmInfo& algo, const SamplerInfo& sampler, RandomState& rng, int64_t n) {
  return algo.run(sampler.draw(rng, n));
}

void check_options(const DatasetOptions& opts) {
  check_nodes(find_algorithm(opts.algorithm), opts.nodes);
  SCANLAB_CHECK(opts.count >= 1, "sample count ", opts.count, " must be at least 1");
}

void transform(const DatasetOptions& opts, Trajectory& t) {
  if (opts.pred_as_input && find_algorithm(opts.algorithm).pred_as_input) apply_pred_as_input(t);
  if (opts.enforce_permutations) apply_permutations(t);
}

}  // namespace

DatasetOptions clrs30_split(const std::string& algorithm, const std::string& split) {
  const auto& algo = find_algorithm(algorithm);
  DatasetOptions o;
  o.algorithm = algorithm;
  if (split == "train") {
    o.nodes = 16, o.count = 1000, o.seed = 1;
  } else if (split == "val") {
    o.nodes = 16, o.count = 32 * algo.multiplier, o.seed = 2;
  } else if (split == "test") {
    o.nodes = 64, o.count = 32 * algo.multiplier, o.seed = 3;
  } else {
    throw Error(detail::concat("unknown split '", split, "'; expected train, val or test"));
  }
  return o;
}

std::vector<Trajectory> sample_dataset(const DatasetOptions& opts) {
  check_options(opts);
  const auto& algo = find_algorithm(opts.algorithm);
  const auto& sampler = find_sampler(algo.sampler);
  RandomState rng(opts.seed);
  std::vector<Trajectory> out;
  out.push_back(draw_one(algo, sampler, rng, opts.nodes));
  // The first sample's arrays times the count, twice (the samples and the batch made of them):
  // --count 10^12 was drawn until the allocator failed.
  double sample_bytes = 0;
  for (const Datapoint& d : out.front().data) sample_bytes += 8.0 * static_cast<double>(d.value.data.size());
  check_fits_in_memory(2.0 * sample_bytes * static_cast<double>(opts.count), at::kCPU,
                       fmt::format("nar: {} samples of {} at n = {}", opts.count, opts.algorithm, opts.nodes));
  for (int64_t i = 1; i < opts.count; ++i) out.push_back(draw_one(algo, sampler, rng, opts.nodes));
  for (auto& t : out) {
    if (opts.random_pos) apply_random_pos(t, rng);
    transform(opts, t);
  }
  return out;
}

void for_each_sample(const DatasetOptions& opts, const std::function<void(const Trajectory&)>& visit) {
  SCANLAB_CHECK(!opts.random_pos, "for_each_sample draws positions per sample; use sample_dataset for random_pos");
  check_options(opts);
  const auto& algo = find_algorithm(opts.algorithm);
  const auto& sampler = find_sampler(algo.sampler);
  RandomState rng(opts.seed);
  for (int64_t i = 0; i < opts.count; ++i) {
    auto t = draw_one(algo, sampler, rng, opts.nodes);
    transform(opts, t);
    visit(t);
  }
}

void apply_random_pos(Trajectory& t, RandomState& rng) {
  auto& pos = t.get("pos").value.data;
  // CLRS draws one U[0, 1] per node and sorts within each segment that starts at a zero of the
  // old positions (one segment unless an algorithm concatenates several sequences).
  const auto draws = rng.uniform_n(static_cast<int64_t>(pos.size()));
  std::vector<size_t> starts;
  for (size_t i = 0; i < pos.size(); ++i)
    if (pos[i] == 0.0) starts.push_back(i);
  SCANLAB_CHECK(!starts.empty() && starts[0] == 0, t.algorithm, ": `pos` must start with 0 to be randomised");
  starts.push_back(pos.size());
  for (size_t s = 0; s + 1 < starts.size(); ++s) {
    std::vector<double> seg(draws.begin() + starts[s], draws.begin() + starts[s + 1]);
    std::sort(seg.begin(), seg.end());
    std::copy(seg.begin(), seg.end(), pos.begin() + starts[s]);
  }
}

void apply_pred_as_input(Trajectory& t) {
  auto it = std::find_if(t.data.begin(), t.data.end(), [](const Datapoint& d) { return d.entry.name == "pred_h"; });
  SCANLAB_CHECK(it != t.data.end(), t.algorithm, ": pred-as-input needs a `pred_h` hint");
  const auto& v = it->value;
  const int64_t per = v.numel() / t.length;
  for (int64_t s = 1; s < t.length; ++s)
    SCANLAB_CHECK(std::equal(v.data.begin(), v.data.begin() + per, v.data.begin() + s * per), t.algorithm,
                  ": `pred_h` changes at step ", s, "; only a constant hint can become an input");
  Datapoint input;
  input.entry = SpecEntry{"pred", Stage::Input, it->entry.location, it->entry.type};
  input.value.shape.assign(v.shape.begin() + 1, v.shape.end());
  input.value.data.assign(v.data.begin(), v.data.begin() + per);
  t.data.erase(it);
  // Inputs come first in every spec: the new input goes after the last one.
  auto last_input =
      std::find_if(t.data.begin(), t.data.end(), [](const Datapoint& d) { return d.entry.stage != Stage::Input; });
  t.data.insert(last_input, std::move(input));
}

void apply_permutations(Trajectory& t) {
  const int64_t n = t.nodes;
  for (size_t k = 0; k < t.data.size(); ++k) {
    if (t.data[k].entry.type != Type::ShouldBePermutation) continue;
    const auto& p = t.data[k].value.data;  // [N] pointers, one stage-less value (outputs only)
    SCANLAB_CHECK(t.data[k].entry.stage != Stage::Hint, t.algorithm, ": should_be_permutation hints are not supported");
    // One-hot pointers; the first node (pointing to itself) is re-pointed to the last node (the one
    // no other node points to), closing the order into a cycle; the mask marks the first node.
    std::vector<double> onehot(static_cast<size_t>(n * n), 0.0), in_degree(static_cast<size_t>(n), 0.0);
    for (int64_t i = 0; i < n; ++i) {
      onehot[i * n + static_cast<int64_t>(p[i])] = 1.0;
      in_degree[static_cast<int64_t>(p[i])] += 1.0;
    }
    const int64_t last = std::min_element(in_degree.begin(), in_degree.end()) - in_degree.begin();
    int64_t first = 0;
    while (first < n && onehot[first * n + first] != 1.0) ++first;
    if (first == n) first = 0;  // argmax of an all-zero diagonal
    onehot[first * n + last] += 1.0;
    onehot[first * n + first] -= 1.0;
    Datapoint& d = t.data[k];
    const SpecEntry mask_entry{d.entry.name + "_mask", d.entry.stage, d.entry.location, Type::MaskOne};
    d.entry.type = Type::PermutationPointer;
    d.value = Array{{n, n}, onehot};
    t.data.insert(t.data.begin() + static_cast<long>(k) + 1, Datapoint{mask_entry, probe::mask_one(first, n)});
  }
}

}  // namespace scanlab::nar
