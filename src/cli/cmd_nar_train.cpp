// `scanlab nar train | eval | compare`: GNN training on one algorithm, evaluation of a saved
// checkpoint, and the sequential-vs-parallel study. Flags only fill nar::study option structs.
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "core/atomic_file.h"
#include "nar/study/compare.h"
#include "nar/study/data.h"
#include "nar/study/train_eval.h"

namespace scanlab::cli {

namespace {

// Training flags. A protocol preset (--protocol) is applied first; flags given explicitly override it.
struct TrainFlags {
  std::string protocol = "paper";
  nar::study::TrainOptions parsed = nar::study::paper_protocol();
  std::vector<std::pair<CLI::Option*, std::function<void(nar::study::TrainOptions&, const nar::study::TrainOptions&)>>>
      fields;

  template <class T>
  void add(CLI::App* cmd, const std::string& flag, T nar::study::TrainOptions::*field, const std::string& help) {
    auto* opt = cmd->add_option(flag, parsed.*field, help)->capture_default_str();
    fields.emplace_back(
        opt, [field](nar::study::TrainOptions& dst, const nar::study::TrainOptions& src) { dst.*field = src.*field; });
  }
  nar::study::TrainOptions resolve() const {
    nar::study::TrainOptions o = nar::study::protocol_by_name(protocol);
    for (const auto& [opt, copy] : fields)
      if (opt->count() > 0) copy(o, parsed);
    return o;
  }
};

void add_train_flags(CLI::App* cmd, TrainFlags& f, bool with_algorithm) {
  cmd->add_option("--protocol", f.protocol,
                  "paper (500 steps, no clipping) or clrs (10,000 steps, clip 1, LayerNorm, triplet_gmpnn)")
      ->capture_default_str()
      ->check(CLI::IsMember({"paper", "clrs"}));
  // One flag per option of TrainOptions::for_each_field that has one; the first three name one run.
  nar::study::TrainOptions::for_each_field([&](const char*, auto member, const char* flag, const char* help) {
    const std::string name = flag;
    if (name.empty()) return;
    if (!with_algorithm && (name == "--algorithm" || name == "--processor" || name == "--seed-run")) return;
    f.add(cmd, name, member, help);
    if (name == "--algorithm") f.fields.back().first->required();
  });
}

// Rewrites the file with one more line (atomically); `header` starts a new file.
void append_line(const std::string& path, const std::string& line, const std::string& header = "") {
  const bool fresh = !std::filesystem::exists(path);
  const std::string existing = fresh ? (header.empty() ? "" : header + "\n") : read_file(path);
  write_file_atomically(path, existing + line + "\n");
}

}  // namespace

void register_nar_training(CLI::App& nar, GlobalContext& ctx) {
  {
    auto flags = std::make_shared<TrainFlags>();
    auto out = std::make_shared<std::string>(), csv = std::make_shared<std::string>(),
         save = std::make_shared<std::string>();
    auto* cmd = nar.add_subcommand("train", "Train a GNN to execute one algorithm and report ID/OOD scores");
    add_train_flags(cmd, *flags, true);
    cmd->add_option("--out", *out, "append the run as one JSON line to this file");
    cmd->add_option("--csv", *csv, "append the run as one CSV row to this file");
    cmd->add_option("--save", *save, "write the best-validation parameters (safetensors)");
    cmd->callback([flags, out, csv, save, &ctx] {
      const auto device = apply_runtime(ctx.runtime);
      const nar::study::TrainOptions o = flags->resolve();
      nar::study::check_train_options(o, "nar train", device);  // before the splits are sampled
      std::shared_ptr<nar::gnn::Net> net;
      const auto r = nar::study::train_and_evaluate(o, nar::study::make_splits(o), device, &net);
      std::cout << nar::study::format_run(r);
      if (!out->empty()) append_line(*out, nar::study::result_to_json(r));
      if (!csv->empty()) append_line(*csv, nar::study::result_to_csv_row(r), nar::study::csv_header());
      if (!save->empty()) nar::study::save_checkpoint(*save, *net, o);
    });
  }
  {
    auto checkpoint = std::make_shared<std::string>();
    auto nodes = std::make_shared<int64_t>(64);
    auto samples = std::make_shared<int64_t>(32);
    auto overrides = std::make_shared<nar::study::EvalOverrides>();
    auto* cmd = nar.add_subcommand("eval", "Score a saved checkpoint on a fresh test split (sampler seed 3)");
    cmd->add_option("--checkpoint", *checkpoint, "file written by `nar train --save`")->required();
    cmd->add_option("--nodes", *nodes, "n of the test samples")->capture_default_str()->check(CLI::PositiveNumber);
    cmd->add_option("--samples", *samples, "test samples before the algorithm's multiplier")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    cmd->add_option("--sinkhorn-steps", overrides->steps,
                    "Sinkhorn rounds in the permutation decoder (default: as trained, 10; 0 = none)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--hard-sinkhorn-steps", overrides->hard_steps,
                    "further Sinkhorn rounds before the argmax of permutation outputs (default 50; 0 = none)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--sinkhorn-temperature", overrides->temperature, "Sinkhorn temperature (default: as trained, 0.1)")
        ->check(CLI::PositiveNumber);
    cmd->add_flag("--true-hints", overrides->true_hints,
                  "feed the ground-truth hints at every step instead of the predicted ones (diagnostic)");
    cmd->callback([checkpoint, nodes, samples, overrides, &ctx] {
      const auto device = apply_runtime(ctx.runtime);
      std::cout << nar::study::format_scores(
          nar::study::evaluate_checkpoint(*checkpoint, *nodes, *samples, device, *overrides));
    });
  }
  {
    auto flags = std::make_shared<TrainFlags>();
    auto opts = std::make_shared<nar::study::CompareOptions>();
    auto* cmd = nar.add_subcommand("compare", "The sequential-vs-parallel study: pairs x processors x seeds");
    cmd->add_option("--pair", opts->pairs, "task pairs: search, sort, scc, prefix_sum")
        ->delimiter(',')
        ->capture_default_str();
    cmd->add_option("--processors", opts->processors, "processors")->delimiter(',')->capture_default_str();
    cmd->add_option("--seeds", opts->seeds, "number of the paper's seeds (42, 51, 34, 103, 60)")
        ->capture_default_str()
        ->check(CLI::Range(1, 5));
    auto* seed = cmd->add_option("--seed", opts->only_seed,
                                 "train only this one of the paper's seeds (for splitting a study into jobs)");
    seed->excludes("--seeds");
    cmd->add_option("--side", opts->side, "which task of each pair to train: both, sequential or parallel")
        ->capture_default_str()
        ->check(CLI::IsMember({"both", "sequential", "parallel"}));
    cmd->add_option("--out-dir", opts->out_dir, "write results.jsonl, summary.csv, table.md and SVG plots here");
    auto merge = std::make_shared<std::vector<std::string>>();
    cmd->add_option("--merge", *merge,
                    "train nothing: join the results.jsonl of these --out-dirs (studies run apart) into --out-dir")
        ->delimiter(',');
    add_train_flags(cmd, *flags, false);
    cmd->callback([flags, opts, merge, &ctx] {
      if (!merge->empty()) {
        if (opts->out_dir.empty()) throw CLI::ValidationError("--merge", "needs --out-dir for the joined study");
        std::cout << nar::study::merge_comparisons(*merge, *opts).table_markdown;
        return;
      }
      const auto device = apply_runtime(ctx.runtime);
      opts->base = flags->resolve();
      const auto result = nar::study::run_comparison(*opts, nar::study::make_splits, device, &std::cerr);
      std::cout << result.table_markdown;
    });
  }
}

}  // namespace scanlab::cli
