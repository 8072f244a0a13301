#include "train/mqar_demo.h"

#include <algorithm>
#include <chrono>
#include <sstream>

#include "config/experiment.h"
#include "core/check.h"
#include "train/evaluate.h"
#include "train/trainer.h"

namespace scanlab::train {
namespace {

config::ExperimentConfig demo_experiment(const MqarDemoOptions& o, const std::string& model) {
  // n_positions covers the state-bytes stream; training uses the first seq_len positions only.
  const int64_t positions = std::max(o.seq_len, o.state_tokens);
  nlohmann::json m = {{"model", model},          {"n_positions", positions}, {"n_embd", o.width},
                      {"n_head", 2},             {"attn_pdrop", 0.0},        {"resid_pdrop", 0.0},
                      {"embd_pdrop", 0.0}};
  if (model == "transformer_psm") {
    m["n_layer_agg"] = 1;
    m["n_layer_inf"] = 2;
    m["chunk_size"] = o.chunk_size;
  } else {
    m["n_layer"] = 2;
  }
  nlohmann::json root = {
      {"name", "mqar-demo-" + model},
      {"task", {{"kind", "mqar"}, {"vocab_size", o.vocab_size}, {"seq_len", o.seq_len},
                {"num_kv_pairs", o.num_kv_pairs}, {"num_train", 100000}, {"num_val", o.eval_examples},
                {"seed", o.seed}}},
      {"model", m},
      {"train", {{"steps", o.steps}, {"batch_size", o.batch_size}, {"lr", o.lr}, {"warmup_steps", o.steps / 10},
                 {"min_lr_ratio", 0.1}, {"weight_decay", 0.01}, {"eval_every", o.eval_every},
                 {"early_stop_accuracy", o.target_accuracy},
                 {"eval_examples", o.eval_examples}, {"log_every", 10}, {"seed", o.seed},
                 {"out_dir", o.out_dir + "/" + model}}},
      {"eval", {{"examples", o.eval_examples}}}};
  return config::parse_experiment(root);
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

}  // namespace

std::vector<int64_t> mqar_demo_state_tokens(const MqarDemoOptions& opts) {
  std::vector<int64_t> counts;
  for (int64_t n = opts.seq_len; n < opts.state_tokens; n *= 2) counts.push_back(n);
  counts.push_back(opts.state_tokens);
  return counts;
}

std::vector<MqarDemoRow> run_mqar_demo(const MqarDemoOptions& opts, at::Device device) {
  SCANLAB_CHECK(!opts.models.empty(), "mqar-demo: no models given");
  std::vector<MqarDemoRow> rows;
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
    MqarDemoRow row;
    row.model = name;
    row.steps = trained.global_step;
    row.reached_target = !trained.stages.empty() && trained.stages.back().eval_acc >= opts.target_accuracy;
    row.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (const auto& p : model->parameters()) row.parameters += p.numel();
    auto task = config::make_task(cfg.task);
    model->eval();
    tasks::EvalTotals parallel, stream;
    int64_t agree = 0, positions = 0;
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
    }
    row.accuracy_parallel = parallel.accuracy();
    row.accuracy_stream = stream.accuracy();
    row.argmax_agreement = static_cast<double>(agree) / static_cast<double>(positions);
    row.state_bytes = peak_state_bytes(*model, *task, opts.eval_examples, mqar_demo_state_tokens(opts), device);
    rows.push_back(row);
  }
  return rows;
}

std::string format_mqar_demo(const MqarDemoOptions& o, const std::vector<MqarDemoRow>& rows) {
  std::ostringstream out;
  out << "MQAR (Zoology generator): T=" << o.seq_len << ", " << o.num_kv_pairs << " key-value pairs, vocabulary "
      << o.vocab_size << ", uniform query gaps; up to " << o.steps << " steps of " << o.batch_size << " examples (peak lr " << o.lr << "); " << o.eval_examples
      << " validation examples\n\n";
  out << "| model | parameters | steps | train s | accuracy (parallel) | accuracy (stream) | argmax agreement | max |logit diff| |\n"
      << "|---|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& r : rows) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "| %s | %lld | %lld | %.1f | %.4f | %.4f | %.4f | %.2e |\n", r.model.c_str(),
                  static_cast<long long>(r.parameters), static_cast<long long>(r.steps), r.train_seconds,
                  r.accuracy_parallel, r.accuracy_stream, r.argmax_agreement, r.max_logit_diff);
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
  const bool has_psm = std::any_of(rows.begin(), rows.end(), [](const MqarDemoRow& r) { return r.model == "transformer_psm"; });
  const int64_t chunks = (o.seq_len + o.chunk_size - 1) / o.chunk_size;
  if (has_psm && chunks <= 2)
    out << "Transformer-PSM: T = " << o.seq_len << " is " << chunks << " chunk(s) of " << o.chunk_size
        << ", so no prediction goes through Agg (the second chunk's prefix state is chunk 0's encoding); "
        << "a chunk of at most " << std::max<int64_t>(1, o.seq_len / 4)
        << " puts Agg on the path of every query after the second chunk.\n";
  else if (has_psm)
    out << "Transformer-PSM: T = " << o.seq_len << " is " << chunks << " chunks of " << o.chunk_size
        << "; the queries from chunk 2 on are answered through Agg's prefix states.\n";
  // The state each stream holds: GPT-2's KV cache grows with every token, the T-PSM's counter keeps
  // at most a root and a fold chunk state per level, log2 of the chunk count (plus fixed Inf slots).
  const auto counts = mqar_demo_state_tokens(o);
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

}  // namespace scanlab::train
