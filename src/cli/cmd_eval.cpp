// `scanlab eval`: checkpoints on their validation data, parallel or streaming, over lengths;
// prints a markdown table and, with --out, writes eval.md/json and SVG plots.
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "core/atomic_file.h"
#include "train/eval_report.h"

namespace scanlab::cli {

void register_eval(CLI::App& root, GlobalContext& ctx) {
  auto opts = std::make_shared<train::EvalOptions>();
  auto* cmd = root.add_subcommand("eval", "Evaluate trained checkpoints: accuracy, per-position error, perplexity");
  cmd->add_option("--checkpoint", opts->checkpoints,
                  "training checkpoint, or any model file with --config (repeatable)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--mode", opts->mode, "parallel or stream (default: the experiment's eval.mode)")
      ->check(CLI::IsMember({"parallel", "stream"}));
  cmd->add_option("--lengths", opts->lengths, "sequence lengths to sweep, e.g. 18,26,34")
      ->delimiter(',')
      ->check(CLI::Range(int64_t{2}, int64_t{1} << 20));
  cmd->add_option("--examples", opts->examples, "validation examples per length")->check(CLI::PositiveNumber);
  cmd->add_option("--batch-size", opts->batch_size, "evaluation batch size")->check(CLI::PositiveNumber);
  cmd->add_option("--out", opts->out_dir, "folder for eval.md, eval.json and the SVG plots");
  cmd->add_option("--config", opts->experiment,
                  "experiment TOML whose task to evaluate on (needed for an exported model file)")
      ->check(CLI::ExistingFile);
  cmd->callback([opts, &ctx] {
    const auto device = apply_runtime(ctx.runtime);
    const auto rows = train::run_eval(*opts, device);
    std::cout << train::eval_markdown(rows);
    if (!opts->out_dir.empty()) {
      train::write_eval_outputs(rows, opts->out_dir);
      std::cout << "wrote " << opts->out_dir << "/{eval.md, eval.json, error_vs_length.svg, error_by_position.svg}\n";
    }
  });
}

void register_plot(CLI::App& root, GlobalContext&) {
  auto metrics = std::make_shared<std::vector<std::string>>();
  auto metric = std::make_shared<std::string>("loss");
  auto out = std::make_shared<std::string>();
  auto* cmd = root.add_subcommand("plot", "Plot training curves from metrics.jsonl files as SVG");
  cmd->add_option("--metrics", *metrics, "metrics.jsonl of each run (repeatable)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--metric", *metric, "which record field")
      ->capture_default_str()
      ->check(CLI::IsMember({"loss", "acc", "lr", "grad_norm", "eval_loss", "eval_acc"}));
  cmd->add_option("--out", *out, "the SVG file to write")->required();
  cmd->callback([metrics, metric, out] {
    write_file_atomically(*out, train::training_curves_svg(*metrics, *metric));
    std::cout << "wrote " << *out << "\n";
  });
}

}  // namespace scanlab::cli
