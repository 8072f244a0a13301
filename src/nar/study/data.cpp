#include "nar/study/data.h"

#include <fmt/format.h>

#include "core/check.h"
#include "core/memory.h"
#include "nar/algorithms/registry.h"
#include "nar/dataset.h"

namespace scanlab::nar::study {

gnn::FeatureBatch to_features(const BatchTensors& t) {
  gnn::FeatureBatch b;
  b.lengths = t.lengths;
  for (const auto& e : t.spec) {
    if (e.stage == Stage::Input)
      b.inputs.push_back({e, t.inputs.at(e.name)});
    else if (e.stage == Stage::Output)
      b.outputs.push_back({e, t.outputs.at(e.name)});
    else
      b.hints.push_back({e, t.hints.at(e.name).transpose(0, 1).contiguous()});
  }
  b.validate();
  return b;
}

namespace {
gnn::FeatureBatch sample_split(const TrainOptions& o, int64_t nodes, int64_t count, uint32_t seed, bool random_pos) {
  DatasetOptions d;
  d.algorithm = o.algorithm;
  d.nodes = nodes;
  d.count = count;
  d.seed = seed;
  d.random_pos = random_pos;
  d.pred_as_input = o.pred_as_input;
  d.enforce_permutations = o.enforce_permutations;
  return to_features(to_tensors(make_batch(sample_dataset(d))));
}
}  // namespace

Splits make_splits(const TrainOptions& o) {
  const AlgorithmInfo& a = find_algorithm(o.algorithm);
  SCANLAB_CHECK(o.train_samples > 0 && o.eval_samples > 0, "split sizes must be positive, got train ", o.train_samples,
                " and eval ", o.eval_samples);
  const int64_t eval_count = o.eval_samples * a.multiplier;
  return {sample_split(o, o.train_nodes, o.train_samples, 1, false),
          sample_split(o, o.val_nodes, eval_count, 2, o.random_pos),
          sample_split(o, o.test_nodes, eval_count, 3, false)};
}

CheckpointScores evaluate_checkpoint(const std::string& path, int64_t nodes, int64_t samples, at::Device device,
                                     const EvalOverrides& overrides) {
  CheckpointScores s;
  s.options = checkpoint_options(path);
  try {
    find_algorithm(s.options.algorithm);
  } catch (const Error& e) {
    SCANLAB_FAIL(path, ": ", e.what());
  }
  check_train_options(s.options, path, device);
  check_fits_in_memory(gnn_bytes(s.options.batch_size, nodes, s.options.hidden, false), device,
                       fmt::format("nar eval: {} at --hidden {} on batches of {} graphs of --nodes {}", path,
                                   s.options.hidden, s.options.batch_size, nodes));
  s.nodes = nodes;
  s.samples = samples * find_algorithm(s.options.algorithm).multiplier;
  const gnn::FeatureBatch test = sample_split(s.options, nodes, s.samples, 3, false);
  gnn::NetOptions net_opts = net_options(s.options);
  if (overrides.steps >= 0) net_opts.sinkhorn_steps = overrides.steps;
  if (overrides.hard_steps >= 0) net_opts.hard_sinkhorn_steps = overrides.hard_steps;
  if (overrides.temperature > 0) net_opts.sinkhorn_temperature = overrides.temperature;
  s.sinkhorn_steps = net_opts.sinkhorn_steps;
  s.hard_sinkhorn_steps = net_opts.hard_sinkhorn_steps;
  s.sinkhorn_temperature = net_opts.sinkhorn_temperature;
  net_opts.eval_true_hints = s.true_hints = overrides.true_hints;
  gnn::Net net(test, net_opts);
  load_checkpoint_into(path, net);
  net.to(device);
  s.scores = evaluate_split(net, test, s.options.batch_size, device);
  return s;
}

std::string format_scores(const CheckpointScores& s) {
  std::string out = fmt::format(
      "{} / {} (seed {}) on {} test samples at n = {} (Sinkhorn {} + {} rounds, temperature {}): score {:.4f}\n",
      s.options.algorithm, s.options.processor, s.options.seed, s.samples, s.nodes, s.sinkhorn_steps,
      s.hard_sinkhorn_steps, s.sinkhorn_temperature, s.scores.score);
  if (s.true_hints) out += "  (ground-truth hints fed at every step)\n";
  for (const auto& [name, v] : s.scores.per_output) out += fmt::format("  {}: {:.4f}\n", name, v);
  return out;
}

}  // namespace scanlab::nar::study
