// The sequential-vs-parallel study (issue 6, Engelmayer et al. 2023): for every pair of tasks and every
// processor, train both tasks over the paper's seeds, then tabulate training time and the ID (val,
// n = val_nodes) and OOD (test, n = test_nodes) scores as mean ± std, and draw score-vs-step and
// time-per-step charts. Splits are built once per algorithm and shared by processors and seeds.
#pragma once
#include <c10/core/Device.h>

#include <functional>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "nar/stats.h"
#include "nar/study/train_eval.h"

namespace scanlab::nar::study {

struct TaskPair {
  std::string name, sequential, parallel;
};

// search, sort, scc, prefix_sum (see docs/nar_study.md for the pairing rationale).
const std::vector<TaskPair>& task_pairs();
const TaskPair& task_pair(const std::string& name);  // throws naming the pair and the known ones

// The paper's seeds, in its order: 42, 51, 34, 103, 60.
const std::vector<uint64_t>& paper_seeds();

using SplitMaker = std::function<Splits(const TrainOptions&)>;

struct CompareOptions {
  std::vector<std::string> pairs = {"search", "sort", "scc", "prefix_sum"};
  std::vector<std::string> processors = {"deepsets", "gat", "mpnn", "pgn"};
  int64_t seeds = 5;          // the first `seeds` of paper_seeds()
  uint64_t only_seed = 0;     // nonzero: this one of paper_seeds() instead of the first `seeds`
  std::string side = "both";  // both | sequential | parallel: which task of each pair to train
  TrainOptions base;          // everything but algorithm, processor and seed
  std::string out_dir;        // results.jsonl, summary.csv, table.md, *.svg; empty = write nothing
};

struct CompareResult {
  std::vector<TrainResult> runs;
  std::string table_markdown;
};

CompareResult run_comparison(const CompareOptions& o, const SplitMaker& make_splits, at::Device device,
                             std::ostream* progress);

// Joins the results.jsonl of studies run apart (e.g. one process per pair and processor on one GPU)
// into one study: the runs of every listed directory, in the task_pairs() order, written to
// o.out_dir with the table and plots. o.pairs and o.processors select and order what is shown.
CompareResult merge_comparisons(const std::vector<std::string>& result_dirs, const CompareOptions& o);

// mean ± sample std (n - 1), formatted with `precision` decimals; std 0 for one value.
std::string mean_std(const std::vector<double>& v, int precision);

// The study's charts, per pair with runs: score_vs_step_<pair>.svg (validation score, mean over
// seeds) and time_per_step_<pair>.svg (ms per step, log scale), as file name and SVG text.
struct NamedPlot {
  std::string file, svg;
};
std::vector<NamedPlot> comparison_plots(const std::vector<TrainResult>& runs, const std::vector<std::string>& pairs,
                                        const std::vector<std::string>& processors);

// The paper's efficiency measure (`nar stats`: node and edge efficiency, 1,000 samples, sampler seed
// 1) of every algorithm in `runs` at its training size, keyed "<algorithm>@<n>".
std::map<std::string, StatsRow> study_efficiency(const std::vector<TrainResult>& runs);

// The markdown table of a finished study: per pair, processor and algorithm the unroll length, the
// node and edge efficiency at the training size (beside the scores, so "higher efficiency, easier
// learning" can be read off), training time and the ID / OOD scores. The first form computes the
// efficiencies (study_efficiency); the second takes them ("-" where missing or undefined).
std::string comparison_table(const std::vector<TrainResult>& runs, const std::vector<TaskPair>& pairs,
                             const std::vector<std::string>& processors);
std::string comparison_table(const std::vector<TrainResult>& runs, const std::vector<TaskPair>& pairs,
                             const std::vector<std::string>& processors,
                             const std::map<std::string, StatsRow>& efficiency);

}  // namespace scanlab::nar::study
