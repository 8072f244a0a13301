#include "train/eval_report.h"

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <sstream>

#include "core/atomic_file.h"
#include "core/check.h"
#include "core/memory.h"
#include "io/svg_plot.h"
#include "models/checkpoint.h"
#include "models/model_size.h"
#include "models/registry.h"
#include "train/evaluate.h"
#include "train/run_log.h"

namespace scanlab::train {

TrainedRun load_trained_run(const std::string& checkpoint, const ModelFactory& make_model, at::Device device,
                            const std::string& experiment_file) {
  SCANLAB_CHECK(std::filesystem::exists(checkpoint), "checkpoint '", checkpoint, "' does not exist");
  const models::ModelFile file = models::read_model_file(checkpoint);
  SCANLAB_CHECK(!experiment_file.empty() || file.train_metadata.count("experiment"), "'", checkpoint,
                "' is a model file without an experiment (exported or init-model); give --config FILE, the ",
                "experiment TOML whose task it is evaluated on");
  TrainedRun run;
  if (!experiment_file.empty()) {
    run.config = load_experiment(experiment_file, {});
  } else {
    try {
      run.config = parse_experiment(nlohmann::json::parse(file.train_metadata.at("experiment")));
    } catch (const nlohmann::json::exception& e) {
      SCANLAB_FAIL("checkpoint '", checkpoint, "': bad experiment metadata: ", e.what());
    }
  }
  if (!make_model) {
    run.model = models::load_model(file, checkpoint, device);  // the config checked against the tensors first
    return run;
  }
  run.model = make_model(file.config);
  run.model->to(device);
  models::load_weights(*run.model, file.weights, checkpoint);
  run.model->eval();
  return run;
}

namespace {

// A parallel batch holds every token's activations (and attention scores) of one layer at a time; a
// streamed one holds one token's, beside the logits of the whole batch either way.
void check_eval_fits(const nlohmann::json& config, int64_t batch, int64_t len, EvalMode mode, at::Device device,
                     const std::string& checkpoint) {
  const double b = static_cast<double>(batch), t = static_cast<double>(len);
  const double bytes = mode == EvalMode::Parallel ? models::inference_bytes(config, b, t)
                                                  : models::inference_bytes(config, b, 1) +
                                                        4.0 * b * t * models::estimate_model_size(config).vocab;
  check_fits_in_memory(bytes, device,
                       fmt::format("eval: {} ({}) on batches of {} x {} tokens (--batch-size x length, {} mode)",
                                   checkpoint, config.value("model", std::string("model")), batch, len,
                                   mode == EvalMode::Parallel ? "parallel" : "stream"));
}

}  // namespace

std::vector<EvalRow> run_eval(const EvalOptions& opts, at::Device device) {
  SCANLAB_CHECK(!opts.checkpoints.empty(), "eval: give at least one --checkpoint");
  std::vector<EvalRow> rows;
  for (const auto& path : opts.checkpoints) {
    auto run = load_trained_run(path, opts.make_model, device, opts.experiment);
    const auto& ec = run.config.eval;
    const auto mode = parse_eval_mode(opts.mode.empty() ? ec.mode : opts.mode);
    auto lengths = !opts.lengths.empty() ? opts.lengths : ec.lengths;
    if (lengths.empty()) lengths.push_back(tasks::task_seq_len(run.config.task));
    const int64_t batch = opts.batch_size > 0 ? opts.batch_size : ec.batch_size;
    for (int64_t len : lengths) {
      if (!opts.make_model) check_eval_fits(run.model->config(), batch, len, mode, device, path);  // registry models
      auto task = tasks::make_task(run.config.task, len);
      auto totals =
          evaluate(*run.model, *task, tasks::Split::Validation, opts.examples > 0 ? opts.examples : ec.examples, batch,
                   mode, device, run.config.train.bf16);
      rows.push_back({run.config.name, len, totals.total, totals.mean_loss(), totals.accuracy(), totals.perplexity(),
                      totals.error_rate_by_position()});
    }
  }
  return rows;
}

std::string eval_markdown(const std::vector<EvalRow>& rows) {
  std::ostringstream md;
  md << "| model | length | scored | loss | accuracy | error rate | perplexity |\n"
     << "|---|---:|---:|---:|---:|---:|---:|\n";
  md.setf(std::ios::fixed);
  for (const auto& r : rows) {
    md.precision(4);
    md << "| " << r.model << " | " << r.length << " | " << r.scored << " | " << r.loss << " | " << r.accuracy << " | "
       << 1 - r.accuracy << " | ";
    md.precision(2);
    md << r.perplexity << " |\n";
  }
  return md.str();
}

void write_eval_outputs(const std::vector<EvalRow>& rows, const std::string& out_dir) {
  std::filesystem::create_directories(out_dir);
  write_file_atomically(out_dir + "/eval.md", eval_markdown(rows));
  auto j = nlohmann::json::array();
  for (const auto& r : rows)
    j.push_back({{"model", r.model},
                 {"length", r.length},
                 {"scored", r.scored},
                 {"loss", r.loss},
                 {"accuracy", r.accuracy},
                 {"perplexity", r.perplexity},
                 {"error_at", r.error_at}});
  write_file_atomically(out_dir + "/eval.json", j.dump(1) + "\n");
  std::vector<io::PlotSeries> by_length, by_position;
  for (const auto& r : rows) {
    if (by_length.empty() || by_length.back().name != r.model) by_length.push_back({r.model, {}, {}});
    by_length.back().x.push_back(static_cast<double>(r.length));
    by_length.back().y.push_back(1 - r.accuracy);
    io::PlotSeries pos{r.model + " T=" + std::to_string(r.length), {}, r.error_at};
    for (size_t t = 0; t < r.error_at.size(); ++t) pos.x.push_back(static_cast<double>(t));
    by_position.push_back(std::move(pos));
  }
  write_file_atomically(out_dir + "/error_vs_length.svg",
                        io::svg_line_plot(by_length, {"Error rate vs sequence length", "length", "error rate"}));
  write_file_atomically(out_dir + "/error_by_position.svg",
                        io::svg_line_plot(by_position, {"Error rate by position", "position", "error rate"}));
}

std::string training_curves_svg(const std::vector<std::string>& metrics_paths, const std::string& metric) {
  std::vector<io::PlotSeries> series;
  for (const auto& path : metrics_paths) {
    SCANLAB_CHECK(std::filesystem::exists(path), "plot: metrics file '", path, "' does not exist");
    io::PlotSeries s{std::filesystem::path(path).parent_path().filename().string(), {}, {}};
    for (const auto& r : MetricsLog::read_jsonl(path)) {
      if (!r.contains(metric) || r[metric].is_null()) continue;  // null: not measured at that step
      SCANLAB_CHECK(r[metric].is_number(), "plot: '", path, "': a record's '", metric, "' is ", r[metric].dump(),
                    "; expected a number or null");
      s.x.push_back(r.value("global_step", 0.0));
      s.y.push_back(r[metric].get<double>());
    }
    SCANLAB_CHECK(!s.x.empty(), "plot: '", path, "' has no '", metric,
                  "' records; metrics are: ", "loss, acc, lr, grad_norm, eval_loss, eval_acc");
    series.push_back(std::move(s));
  }
  try {
    return io::svg_line_plot(series, {"Training curve: " + metric, "step", metric});
  } catch (const Error& e) {
    std::string files;
    for (const auto& path : metrics_paths) files += (files.empty() ? "'" : ", '") + path + "'";
    SCANLAB_FAIL("plot of ", files, ": ", e.what());
  }
  return {};
}

}  // namespace scanlab::train
