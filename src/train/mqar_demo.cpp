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
  nlohmann::json m = {{"model", model},          {"n_positions", o.seq_len}, {"n_embd", o.width},
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
                 {"min_lr_ratio", 0.1}, {"weight_decay", 0.01}, {"eval_every", 0},
                 {"eval_examples", o.eval_examples}, {"log_every", 10}, {"seed", o.seed},
                 {"out_dir", o.out_dir + "/" + model}}},
      {"eval", {{"examples", o.eval_examples}}}};
  return config::parse_experiment(root);
}

}  // namespace

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
    train_model(*model, cfg, control, device);
    MqarDemoRow row;
    row.model = name;
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
    rows.push_back(row);
  }
  return rows;
}

std::string format_mqar_demo(const MqarDemoOptions& o, const std::vector<MqarDemoRow>& rows) {
  std::ostringstream out;
  out << "MQAR (Zoology generator): T=" << o.seq_len << ", " << o.num_kv_pairs << " key-value pairs, vocabulary "
      << o.vocab_size << ", uniform query gaps; " << o.steps << " steps of " << o.batch_size << " examples (peak lr " << o.lr << "); " << o.eval_examples
      << " validation examples\n\n";
  out << "| model | parameters | train s | accuracy (parallel) | accuracy (stream) | argmax agreement | max |logit diff| |\n"
      << "|---|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& r : rows) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "| %s | %lld | %.1f | %.4f | %.4f | %.4f | %.2e |\n", r.model.c_str(),
                  static_cast<long long>(r.parameters), r.train_seconds, r.accuracy_parallel, r.accuracy_stream,
                  r.argmax_agreement, r.max_logit_diff);
    out << buf;
  }
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
        << "--chunk 8 puts Agg on the path of every query after the second chunk.\n";
  else if (has_psm)
    out << "Transformer-PSM: T = " << o.seq_len << " is " << chunks << " chunks of " << o.chunk_size
        << "; the queries from chunk 2 on are answered through Agg's prefix states.\n";
  return out.str();
}

}  // namespace scanlab::train
