#include "demos/train_demo.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <sstream>

#include "core/check.h"
#include "tasks/flip_flop.h"
#include "train/evaluate.h"
#include "train/experiment.h"
#include "train/trainer.h"

namespace scanlab::demos {

using train::EvalMode;
using train::evaluate;
using train::ExperimentConfig;
using train::make_experiment_model;
using train::parse_experiment;
using train::RunControl;
using train::train_model;
namespace {

nlohmann::json demo_task(const TrainDemoOptions& o) {
  if (o.task == "flip_flop")  // as many distractors as values: one knob for the demo's vocabulary
    return {{"kind", "flip_flop"},        {"seq_len", o.seq_len},
            {"num_values", o.num_values}, {"num_distractors", o.num_values},
            {"write_prob", o.write_prob}, {"num_train", 100000},
            {"num_val", o.eval_examples}, {"seed", o.seed}};
  return {{"kind", "mqar"},      {"vocab_size", o.vocab_size}, {"seq_len", o.seq_len}, {"num_kv_pairs", o.num_kv_pairs},
          {"num_train", 100000}, {"num_val", o.eval_examples}, {"seed", o.seed}};
}

ExperimentConfig demo_experiment(const TrainDemoOptions& o, const std::string& model) {
  nlohmann::json m = {{"model", model},    {"n_embd", o.width},  {"n_head", 2},
                      {"attn_pdrop", 0.0}, {"resid_pdrop", 0.0}, {"embd_pdrop", 0.0}};
  if (model == "transformer_psm") {
    // Positions 0..C-1 in every chunk: the chunk states do not depend on where a chunk sits, so the
    // model runs on streams of any length (the state-bytes table, the longer lengths).
    m["n_layer_agg"] = 1;
    m["n_layer_inf"] = 2;
    m["chunk_size"] = o.chunk_size;
    m["position_mode"] = "chunk_local";
    m["n_positions"] = o.chunk_size;
  } else {
    // Learned absolute positions must cover the longest stream the demo runs.
    int64_t longest = std::max(o.seq_len, o.state_tokens);
    for (int64_t t : o.lengths) longest = std::max(longest, t);
    m["n_layer"] = 2;
    m["n_positions"] = longest;
  }
  nlohmann::json root = {{"name", "train-demo-" + model},
                         {"task", demo_task(o)},
                         {"model", m},
                         {"train",
                          {{"steps", o.steps},
                           {"batch_size", o.batch_size},
                           {"lr", o.lr},
                           {"warmup_steps", o.steps / 10},
                           {"min_lr_ratio", 0.1},
                           {"weight_decay", 0.01},
                           {"eval_every", o.eval_every},
                           {"early_stop_accuracy", o.target_accuracy},
                           {"eval_examples", o.eval_examples},
                           {"log_every", 10},
                           {"seed", o.seed},
                           {"out_dir", o.out_dir + "/" + model}}},
                         {"eval", {{"examples", o.eval_examples}}}};
  return parse_experiment(root);
}

// The validation sequences back to back, tiled to `tokens`, streamed one token at a time; entry i is
// the most bytes the stream held over the first counts[i] tokens (a T-PSM's state rises and falls
// with its binary counter, so the peak is the bound that matters).
std::vector<int64_t> peak_state_bytes(models::SequenceModel& model, const tasks::Task& task, int64_t examples,
                                      const std::vector<int64_t>& counts, at::Device device) {
  at::NoGradGuard no_grad;
  const auto flat = task.range(tasks::Split::Validation, 0, examples).inputs.reshape({-1});
  const int64_t n = counts.back();
  const auto tokens = flat.repeat({(n + flat.numel() - 1) / flat.numel()}).slice(0, 0, n).to(device);
  auto stream = model.start_stream(1);
  std::vector<int64_t> out;
  int64_t peak = 0;
  for (int64_t t = 0; t < n; ++t) {
    stream->step(tokens.slice(0, t, t + 1));
    peak = std::max(peak, stream->state_bytes());
    if (t + 1 == counts[out.size()]) out.push_back(peak);
  }
  return out;
}

// Parallel accuracy on the validation examples of the task at another length.
double accuracy_at_length(models::SequenceModel& model, const tasks::TaskConfig& cfg, int64_t length, int64_t examples,
                          at::Device device) {
  const auto task = tasks::make_task(cfg, length);
  return evaluate(model, *task, tasks::Split::Validation, examples, 32, EvalMode::Parallel, device).accuracy();
}

void check_options(const TrainDemoOptions& o) {
  SCANLAB_CHECK(o.task == "flip_flop" || o.task == "mqar", "train-demo: --task '", o.task,
                "' is unknown; expected flip_flop or mqar");
  SCANLAB_CHECK(!o.models.empty(),
                "train-demo: --models is empty; expected registry names such as transformer_psm,gpt2");
  for (int64_t t : o.lengths)
    SCANLAB_CHECK(t >= 1 && t <= 65536, "train-demo: --lengths entry ", t, " is outside [1, 65536]");
}

}  // namespace

std::vector<int64_t> train_demo_state_tokens(const TrainDemoOptions& opts) {
  std::vector<int64_t> counts;
  for (int64_t n = opts.seq_len; n < opts.state_tokens; n *= 2) counts.push_back(n);
  counts.push_back(opts.state_tokens);
  return counts;
}

std::vector<TrainDemoRow> run_train_demo(const TrainDemoOptions& opts, at::Device device) {
  check_options(opts);
  std::vector<TrainDemoRow> rows;
  for (const auto& name : opts.models) {
    const auto cfg = demo_experiment(opts, name);
    torch::manual_seed(cfg.train.seed);
    auto model = make_experiment_model(cfg);
    model->to(device);
    RunControl control;
    control.progress = opts.progress;
    control.quiet = true;
    const auto t0 = std::chrono::steady_clock::now();
    const auto trained = train_model(*model, cfg, control, device);
    TrainDemoRow row;
    row.model = name;
    row.steps = trained.global_step;
    row.reached_target = !trained.stages.empty() && trained.stages.back().eval_acc >= opts.target_accuracy;
    row.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (const auto& p : model->parameters()) row.parameters += p.numel();
    auto task = tasks::make_task(cfg.task);
    const auto* flip_flop = dynamic_cast<const tasks::FlipFlopTask*>(task.get());
    model->eval();
    tasks::EvalTotals parallel, stream;
    int64_t agree = 0, positions = 0, agg_correct = 0;
    for (int64_t first = 0; first < opts.eval_examples; first += 64) {
      auto batch = task->range(tasks::Split::Validation, first, std::min<int64_t>(64, opts.eval_examples - first));
      auto inputs = batch.inputs.to(device), labels = batch.labels.to(device);
      auto lp = model_logits(*model, inputs, EvalMode::Parallel);
      auto ls = model_logits(*model, inputs, EvalMode::Stream);
      parallel.add(lp, labels, task->alignment());
      stream.add(ls, labels, task->alignment());
      agree += lp.argmax(-1).eq(ls.argmax(-1)).sum().item<int64_t>();
      positions += inputs.numel();
      row.max_logit_diff = std::max(row.max_logit_diff, (lp - ls).abs().max().item<double>());
      if (flip_flop) {
        // A value written two or more chunks before the chunk that asks for it reaches the T-PSM's
        // Inf only through a prefix state that Agg built (chunk k's prefix combines chunks 0..k-1).
        const auto c = opts.chunk_size;
        const auto t = at::arange(inputs.size(1), at::kLong).unsqueeze(0);
        const auto far = t.div(c, "floor") - flip_flop->last_write_index(batch.inputs).div(c, "floor") >= 2;
        const auto right = lp.argmax(-1).cpu().eq(batch.labels);
        agg_correct += right.logical_and(far).sum().item<int64_t>();
        row.positions_through_agg += far.sum().item<int64_t>();
      }
    }
    row.accuracy_parallel = parallel.accuracy();
    row.accuracy_stream = stream.accuracy();
    row.accuracy_through_agg = row.positions_through_agg > 0
                                   ? static_cast<double>(agg_correct) / static_cast<double>(row.positions_through_agg)
                                   : std::numeric_limits<double>::quiet_NaN();
    row.argmax_agreement = static_cast<double>(agree) / static_cast<double>(positions);
    for (int64_t length : opts.lengths)
      row.accuracy_at_length.push_back(accuracy_at_length(*model, cfg.task, length, opts.eval_examples, device));
    row.state_bytes = peak_state_bytes(*model, *task, opts.eval_examples, train_demo_state_tokens(opts), device);
    rows.push_back(row);
  }
  return rows;
}

std::string format_train_demo(const TrainDemoOptions& o, const std::vector<TrainDemoRow>& rows) {
  std::ostringstream out;
  const bool flip_flop = o.task == "flip_flop";
  if (flip_flop)
    out << "Flip-flop state tracking: T=" << o.seq_len << ", " << o.num_values << " values, a write with probability "
        << o.write_prob << ", after each action the last value written";
  else
    out << "MQAR (Zoology generator): T=" << o.seq_len << ", " << o.num_kv_pairs << " key-value pairs, vocabulary "
        << o.vocab_size << ", uniform query gaps";
  out << "; up to " << o.steps << " steps of " << o.batch_size << " examples (peak lr " << o.lr << "); "
      << o.eval_examples << " validation examples\n\n";
  out << "| model | parameters | steps | train s | accuracy (parallel) | accuracy (stream) |";
  if (flip_flop) out << " written >= 2 chunks back |";
  for (int64_t t : o.lengths) out << " T=" << t << " |";
  out << " argmax agreement | max |logit diff| |\n|---|---:|---:|---:|---:|---:|";
  if (flip_flop) out << "---:|";
  for (size_t i = 0; i < o.lengths.size(); ++i) out << "---:|";
  out << "---:|---:|\n";
  for (const auto& r : rows) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "| %s | %lld | %lld | %.1f | %.4f | %.4f |", r.model.c_str(),
                  static_cast<long long>(r.parameters), static_cast<long long>(r.steps), r.train_seconds,
                  r.accuracy_parallel, r.accuracy_stream);
    out << buf;
    if (flip_flop) {
      std::snprintf(buf, sizeof buf, " %.4f |", r.accuracy_through_agg);
      out << buf;
    }
    for (double a : r.accuracy_at_length) {
      std::snprintf(buf, sizeof buf, " %.4f |", a);
      out << buf;
    }
    std::snprintf(buf, sizeof buf, " %.4f | %.2e |\n", r.argmax_agreement, r.max_logit_diff);
    out << buf;
  }
  out << "\n";
  for (const auto& r : rows)
    out << r.model << ": " << (r.reached_target ? "reached" : "did not reach") << " validation accuracy "
        << o.target_accuracy << (r.reached_target ? " at step " : " within the cap of ")
        << (r.reached_target ? r.steps : o.steps) << " (evaluated every " << o.eval_every << " steps)\n";
  bool all_agree = true;
  for (const auto& r : rows) all_agree &= r.argmax_agreement == 1.0;
  out << "\n"
      << (all_agree ? "Streaming inference reproduces the parallel predictions at every position."
                    : "WARNING: streaming and parallel predictions differ at some positions.")
      << "\n";
  // Say whether the Transformer-PSM's Agg was on the prediction path at all: with two chunks or fewer
  // the only prefix state is chunk 0's own encoding.
  const bool has_psm =
      std::any_of(rows.begin(), rows.end(), [](const TrainDemoRow& r) { return r.model == "transformer_psm"; });
  const int64_t chunks = (o.seq_len + o.chunk_size - 1) / o.chunk_size;
  if (has_psm && chunks <= 2) {
    out << "Transformer-PSM: T = " << o.seq_len << " is " << chunks << " chunk(s) of " << o.chunk_size
        << ", so no prediction goes through Agg (the second chunk's prefix state is chunk 0's encoding); "
        << "a chunk of at most " << std::max<int64_t>(1, o.seq_len / 4)
        << " puts Agg on the path of every query after the second chunk.\n";
  } else if (has_psm) {
    out << "Transformer-PSM: T = " << o.seq_len << " is " << chunks << " chunks of " << o.chunk_size
        << "; from chunk 2 on, the prefix state Inf reads was built by Agg";
    if (flip_flop && !rows.empty())
      out << " (" << rows.front().positions_through_agg
          << " validation positions need a value written >= 2 chunks back)";
    out << ".\n";
  }
  if (!o.lengths.empty())
    out << "The T=... columns score models trained at T = " << o.seq_len << " on longer sequences of the same task.\n";
  // The state each stream holds: GPT-2's KV cache grows with every token, the T-PSM's counter keeps
  // at most a root and a fold chunk state per level, log2 of the chunk count (plus fixed Inf slots).
  const auto counts = train_demo_state_tokens(o);
  out << "\nState bytes each stream holds (batch 1, the most over the first N tokens; the validation sequences "
      << "back to back, past T = " << o.seq_len << " only the sizes mean something):\n\n| tokens N |";
  for (const auto& r : rows) out << " " << r.model << " |";
  out << "\n|---:|";
  for (size_t i = 0; i < rows.size(); ++i) out << "---:|";
  out << "\n";
  for (size_t i = 0; i < counts.size(); ++i) {
    out << "| " << counts[i] << " |";
    for (const auto& r : rows) out << " " << r.state_bytes[i] << " |";
    out << "\n";
  }
  return out.str();
}

}  // namespace scanlab::demos
