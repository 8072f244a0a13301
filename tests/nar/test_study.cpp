// The trainer and the study on tiny hand-made splits: fixed seeds reproduce a run, the restored
// parameters are the best-validation ones, checkpoints round-trip, and the comparison writes its
// table, JSONL/CSV and SVG plots.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "core/atomic_file.h"
#include "core/check.h"
#include "io/svg_plot.h"
#include "nar/stats.h"
#include "nar/study/compare.h"
#include "nar/study/data.h"
#include "nar/study/train_eval.h"
#include "support/nar_tiny_task.h"

namespace scanlab::nar::study {
namespace {

Splits tiny_splits(const TrainOptions&) {
  const SpecEntry out{"one", Stage::Output, Location::Node, Type::MaskOne};
  return {gnn::tiny_task(out, 16, 1), gnn::tiny_task(out, 8, 2), gnn::tiny_task(out, 8, 3)};
}

TrainOptions tiny_options() {
  TrainOptions o;
  o.algorithm = "tiny";
  o.processor = "pgn";
  o.hidden = 16;
  o.batch_size = 4;
  o.steps = 12;
  o.eval_every = 4;
  return o;
}

// A registered algorithm on small splits (eval splits: 2 x the algorithm's multiplier samples).
TrainOptions registered_options(const std::string& algorithm, int64_t train_samples, int64_t train_n, int64_t test_n) {
  TrainOptions o = tiny_options();
  o.algorithm = algorithm;
  o.train_samples = train_samples;
  o.eval_samples = 2;
  o.train_nodes = o.val_nodes = train_n;
  o.test_nodes = test_n;
  return o;
}

TEST(NarStudyTrainer, FixedSeedsReproduceARun) {
  const Splits s = tiny_splits({});
  const TrainResult a = train_and_evaluate(tiny_options(), s, at::kCPU);
  const TrainResult b = train_and_evaluate(tiny_options(), s, at::kCPU);
  EXPECT_EQ(a.losses, b.losses);
  EXPECT_EQ(a.best_val, b.best_val);
  EXPECT_EQ(a.test_score, b.test_score);
  TrainOptions other = tiny_options();
  other.seed = 51;
  EXPECT_NE(train_and_evaluate(other, s, at::kCPU).losses, a.losses);
  EXPECT_EQ(a.losses.size(), 12u);
  EXPECT_EQ(a.val_curve.size(), 3u);
  EXPECT_EQ(a.train_unroll_steps, 2);
}

TEST(NarStudyTrainer, RestoresTheBestValidationParameters) {
  const Splits s = tiny_splits({});
  std::shared_ptr<gnn::Net> net;
  const TrainResult r = train_and_evaluate(tiny_options(), s, at::kCPU, &net);
  double best = -1;
  for (const auto& p : r.val_curve) best = std::max(best, p.score);
  EXPECT_EQ(r.best_val, best);
  EXPECT_DOUBLE_EQ(evaluate_split(*net, s.val, 4, at::kCPU).score, r.best_val);
  EXPECT_DOUBLE_EQ(evaluate_split(*net, s.test, 4, at::kCPU).score, r.test_score);
  // The timing excludes the warm-up step.
  double sum = 0;
  for (size_t k = 1; k < r.step_seconds.size(); ++k) sum += r.step_seconds[k];
  EXPECT_DOUBLE_EQ(r.train_seconds, sum);

  const std::string path = ::testing::TempDir() + "/nar_tiny_ckpt.safetensors";
  save_checkpoint(path, *net, r.options);
  EXPECT_EQ(checkpoint_options(path).processor, "pgn");
  torch::manual_seed(999);
  gnn::Net fresh(s.test, net_options(checkpoint_options(path)));
  load_checkpoint_into(path, fresh);
  EXPECT_DOUBLE_EQ(evaluate_split(fresh, s.test, 4, at::kCPU).score, r.test_score);
  TrainOptions wider = r.options;
  wider.hidden = 32;
  gnn::Net mismatched(s.test, net_options(wider));
  EXPECT_THROW(load_checkpoint_into(path, mismatched), scanlab::Error);
}

TEST(NarStudyTrainer, TrackTestRecordsAnOodCurveAndChangesNothingElse) {
  const Splits s = tiny_splits({});
  TrainOptions o = tiny_options();
  const TrainResult plain = train_and_evaluate(o, s, at::kCPU);
  EXPECT_TRUE(plain.test_curve.empty());
  // Results written before the option existed keep their form.
  EXPECT_EQ(result_to_json(plain).find("test_curve"), std::string::npos);
  EXPECT_EQ(result_to_json(plain).find("track_test"), std::string::npos);
  o.track_test = true;
  const TrainResult tracked = train_and_evaluate(o, s, at::kCPU);
  EXPECT_EQ(tracked.losses, plain.losses);
  EXPECT_EQ(tracked.best_step, plain.best_step);
  EXPECT_EQ(tracked.test_score, plain.test_score);
  ASSERT_EQ(tracked.test_curve.size(), tracked.val_curve.size());
  bool saw_best = false;
  for (size_t k = 0; k < tracked.test_curve.size(); ++k) {
    EXPECT_EQ(tracked.test_curve[k].step, tracked.val_curve[k].step);
    if (tracked.test_curve[k].step != tracked.best_step) continue;
    saw_best = true;  // the curve's point at the restored checkpoint is the reported test score
    EXPECT_DOUBLE_EQ(tracked.test_curve[k].score, tracked.test_score);
  }
  EXPECT_TRUE(saw_best);
  const TrainResult back = result_from_json(result_to_json(tracked));
  EXPECT_TRUE(back.options.track_test);
  ASSERT_EQ(back.test_curve.size(), tracked.test_curve.size());
  EXPECT_EQ(back.test_curve.back().score, tracked.test_curve.back().score);
  EXPECT_NE(format_run(tracked).find("at every validation"), std::string::npos);
}

TEST(NarStudyData, CheckpointEvaluationTakesSinkhornAndHintSettings) {
  TrainOptions o = registered_options("odd_even_transposition_sort", 8, 4, 6);
  o.steps = 2;
  o.eval_every = 2;
  std::shared_ptr<gnn::Net> net;
  const TrainResult r = train_and_evaluate(o, make_splits(o), at::kCPU, &net);
  const std::string path = ::testing::TempDir() + "/nar_oets_ckpt.safetensors";
  save_checkpoint(path, *net, o);
  const CheckpointScores def = evaluate_checkpoint(path, 6, 2, at::kCPU);
  EXPECT_EQ(def.sinkhorn_steps, 10);
  EXPECT_EQ(def.hard_sinkhorn_steps, 50);
  EXPECT_DOUBLE_EQ(def.sinkhorn_temperature, 0.1);
  EXPECT_DOUBLE_EQ(def.scores.score, r.test_score);  // the same test split (seed 3) and settings
  EvalOverrides raw;
  raw.steps = 0;
  raw.hard_steps = 0;
  raw.temperature = 1.0;
  const CheckpointScores none = evaluate_checkpoint(path, 6, 2, at::kCPU, raw);
  EXPECT_EQ(none.sinkhorn_steps, 0);
  EXPECT_EQ(none.hard_sinkhorn_steps, 0);
  EXPECT_DOUBLE_EQ(none.sinkhorn_temperature, 1.0);
  EXPECT_GE(none.scores.score, 0.0);
  EXPECT_LE(none.scores.score, 1.0);
  EXPECT_NE(format_scores(none).find("Sinkhorn 0 + 0 rounds, temperature 1"), std::string::npos) << format_scores(none);
  // Ground-truth hints at every step (a diagnostic): reported, and a valid score.
  EvalOverrides forced;
  forced.true_hints = true;
  const CheckpointScores truth = evaluate_checkpoint(path, 6, 2, at::kCPU, forced);
  EXPECT_TRUE(truth.true_hints);
  EXPECT_FALSE(def.true_hints);
  EXPECT_GE(truth.scores.score, 0.0);
  EXPECT_LE(truth.scores.score, 1.0);
  EXPECT_NE(format_scores(truth).find("ground-truth hints"), std::string::npos);
}

TEST(NarStudyCompare, TableShowsEachAlgorithmsEfficiency) {
  std::vector<TrainResult> runs(2);
  runs[0].options.algorithm = "bubble_sort";
  runs[1].options.algorithm = "odd_even_transposition_sort";
  for (auto& r : runs) {
    r.options.processor = "mpnn";
    r.options.train_nodes = r.options.val_nodes = 8;
  }
  StatsOptions so;
  so.sizes = {8};
  so.algorithms = {"bubble_sort", "odd_even_transposition_sort"};
  const auto stats = compute_stats(so);
  const std::string md = comparison_table(runs, {task_pair("sort")}, {"mpnn"});
  EXPECT_NE(md.find("node eff. (n = 8) | edge eff. (n = 8)"), std::string::npos) << md;
  for (const auto& row : stats) {
    const std::string cells = fmt::format("| sort | mpnn | {} | 0 | {:.3f} | {:.4f} | 1 |", row.algorithm,
                                          row.node_efficiency, row.edge_efficiency);
    EXPECT_NE(md.find(cells), std::string::npos) << cells << "\n" << md;
  }
  // Given efficiencies are used as they are; a missing one shows "-".
  std::map<std::string, StatsRow> given;
  given["bubble_sort@8"] = stats.front();
  given["bubble_sort@8"].node_efficiency = 0.5;
  const std::string partial = comparison_table(runs, {task_pair("sort")}, {"mpnn"}, given);
  EXPECT_NE(partial.find("| bubble_sort | 0 | 0.500 |"), std::string::npos) << partial;
  EXPECT_NE(partial.find("| odd_even_transposition_sort | 0 | - | - | 1 |"), std::string::npos) << partial;
}

TEST(NarStudyTrainer, BadOptionsAreErrors) {
  TrainOptions o = tiny_options();
  o.batch_size = 64;  // more than the 16 training samples
  EXPECT_THROW(train_and_evaluate(o, tiny_splits({}), at::kCPU), scanlab::Error);
  EXPECT_THROW(protocol_by_name("fast"), scanlab::Error);
  EXPECT_EQ(protocol_by_name("clrs").processor, "triplet_gmpnn");
  EXPECT_EQ(protocol_by_name("paper").steps, 500);
}

TEST(NarStudyCompare, WritesTableResultsAndPlots) {
  const std::string dir = ::testing::TempDir() + "/nar_compare_test";
  std::filesystem::create_directories(dir);
  CompareOptions o;
  o.pairs = {"search"};
  o.processors = {"mpnn", "deepsets"};
  o.seeds = 2;
  o.base = tiny_options();
  o.base.steps = 4;
  o.out_dir = dir;
  const CompareResult r = run_comparison(o, tiny_splits, at::kCPU, nullptr);
  EXPECT_EQ(r.runs.size(), 8u);  // 2 algorithms x 2 processors x 2 seeds
  // Seeds outside, the pair's two algorithms alternating inside: a study cut short keeps both sides.
  EXPECT_EQ(r.runs[1].options.seed, 42u);
  EXPECT_EQ(r.runs[1].options.algorithm, "parallel_search");
  EXPECT_EQ(r.runs[2].options.seed, 51u);
  EXPECT_EQ(r.runs[2].options.algorithm, "binary_search");
  EXPECT_NE(r.table_markdown.find("| search | mpnn | binary_search |"), std::string::npos) << r.table_markdown;
  EXPECT_NE(r.table_markdown.find("| search | deepsets | parallel_search |"), std::string::npos);
  const std::string jsonl = read_file(dir + "/results.jsonl");
  EXPECT_EQ(std::count(jsonl.begin(), jsonl.end(), '\n'), 8);
  EXPECT_EQ(read_file(dir + "/table.md"), r.table_markdown);
  const std::string svg = read_file(dir + "/score_vs_step_search.svg");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  size_t lines = 0;
  for (size_t p = svg.find("<polyline"); p != std::string::npos; p = svg.find("<polyline", p + 1)) ++lines;
  EXPECT_EQ(lines, 4u);
  EXPECT_NE(read_file(dir + "/time_per_step_search.svg").find("<rect"), std::string::npos);
  o.pairs = {"graph_coloring"};
  EXPECT_THROW(run_comparison(o, tiny_splits, at::kCPU, nullptr), scanlab::Error);
}

TEST(NarStudyCompare, OneSeedAndOneSideMakeOneJob) {
  const std::string dir = ::testing::TempDir() + "/nar_compare_job";
  std::filesystem::create_directories(dir);
  CompareOptions o;
  o.pairs = {"search"};
  o.processors = {"mpnn"};
  o.only_seed = 51;
  o.side = "parallel";
  o.base = tiny_options();
  o.base.steps = 2;
  o.out_dir = dir;
  const CompareResult r = run_comparison(o, tiny_splits, at::kCPU, nullptr);
  ASSERT_EQ(r.runs.size(), 1u);
  EXPECT_EQ(r.runs[0].options.seed, 51u);
  EXPECT_EQ(r.runs[0].options.algorithm, "parallel_search");
  o.only_seed = 7;
  EXPECT_THROW(run_comparison(o, tiny_splits, at::kCPU, nullptr), scanlab::Error);
  o.only_seed = 0;
  o.side = "middle";
  EXPECT_THROW(run_comparison(o, tiny_splits, at::kCPU, nullptr), scanlab::Error);
}

TEST(NarStudyCompare, MergesStudiesRunApart) {
  const std::string root = ::testing::TempDir() + "/nar_merge_test";
  CompareOptions o;
  o.pairs = {"search"};
  o.seeds = 1;
  o.base = tiny_options();
  o.base.steps = 4;
  std::vector<std::string> dirs;
  for (const std::string proc : {"mpnn", "deepsets"}) {
    o.processors = {proc};
    o.out_dir = root + "/" + proc;
    std::filesystem::create_directories(o.out_dir);
    run_comparison(o, tiny_splits, at::kCPU, nullptr);
    dirs.push_back(o.out_dir);
  }
  o.processors = {"mpnn", "deepsets"};
  o.out_dir = root + "/joined";
  std::filesystem::create_directories(o.out_dir);
  const CompareResult joined = merge_comparisons(dirs, o);
  ASSERT_EQ(joined.runs.size(), 4u);
  o.out_dir = root + "/together";
  std::filesystem::create_directories(o.out_dir);
  const CompareResult together = run_comparison(o, tiny_splits, at::kCPU, nullptr);
  // The same runs give the same table, whichever way they were made (timing columns aside).
  for (size_t k = 0; k < 4; ++k) {
    const auto& a = joined.runs[k];
    const auto it = std::find_if(together.runs.begin(), together.runs.end(), [&](const TrainResult& r) {
      return r.options.algorithm == a.options.algorithm && r.options.processor == a.options.processor;
    });
    ASSERT_NE(it, together.runs.end());
    EXPECT_EQ(a.losses, it->losses);
    EXPECT_EQ(a.test_score, it->test_score);
    EXPECT_EQ(a.val_curve.size(), it->val_curve.size());
    EXPECT_EQ(a.options.hidden, 16);
  }
  EXPECT_NE(read_file(root + "/joined/table.md").find("| search | deepsets | parallel_search | 2 | - | - | 1 |"),
            std::string::npos)
      << read_file(root + "/joined/table.md");
  EXPECT_EQ(read_file(root + "/joined/score_vs_step_search.svg").rfind("<svg", 0), 0u);
  // Bad inputs name the file and line.
  EXPECT_THROW(merge_comparisons({root + "/missing"}, o), scanlab::Error);
  std::filesystem::create_directories(root + "/bad");
  write_file_atomically(root + "/bad/results.jsonl", "{\"options\": {}}\n");
  try {
    merge_comparisons({root + "/bad"}, o);
    ADD_FAILURE() << "a truncated result line was accepted";
  } catch (const scanlab::Error& e) {
    EXPECT_NE(std::string(e.what()).find("line 1"), std::string::npos) << e.what();
  }
}

TEST(NarStudyCompare, MeanStdAndCharts) {
  EXPECT_EQ(mean_std({1.0, 2.0, 3.0}, 2), "2.00 ± 1.00");
  EXPECT_EQ(mean_std({0.5}, 1), "0.5 ± 0.0");
  EXPECT_THROW(io::svg_line_plot({{"a", {1, 2}, {1}}}, {"t", "x", "y"}), scanlab::Error);
  EXPECT_THROW(io::svg_bar_chart({"a"}, {"g"}, {{1, 2}}, {"t", "", "y"}, false), scanlab::Error);
  const std::string bars = io::svg_bar_chart({"a", "b"}, {"g1", "g2"}, {{1, 10}, {100, 1000}}, {"t", "", "ms"}, true);
  EXPECT_NE(bars.find("(log scale)"), std::string::npos);
}

TEST(NarStudyData, SplitsFromTheAlgorithmLibrary) {
  TrainOptions o = registered_options("bubble_sort", 6, 5, 7);
  const Splits s = make_splits(o);
  EXPECT_EQ(s.train.batch_size(), 6);
  EXPECT_EQ(s.test.nodes(), 7);
  EXPECT_EQ(s.train.max_length(), 1 + 5 * 4 / 2);  // bubble sort: T = 1 + n(n-1)/2
  // should_be_permutation `pred` arrives as permutation pointer + mask (enforce_permutations).
  ASSERT_EQ(s.train.outputs.size(), 2u);
  EXPECT_EQ(s.train.outputs[0].entry.type, Type::PermutationPointer);
  EXPECT_EQ(s.train.outputs[1].entry.name, "pred_mask");
  // Hints are time-major for the GNN: [T, B, N].
  EXPECT_EQ(s.train.hints[0].data.size(1), 6);
  // Parallel search has n + 1 nodes (the target node) and one hint step.
  o.algorithm = "parallel_search";
  const Splits p = make_splits(o);
  EXPECT_EQ(p.val.nodes(), 6);
  EXPECT_EQ(p.val.batch_size(), 2 * 64);  // multiplier 64
  EXPECT_EQ(p.val.max_length(), 1);
  const TrainResult r = train_and_evaluate(o, p, at::kCPU);
  EXPECT_EQ(r.train_unroll_steps, 1);
  EXPECT_GE(r.test_score, 0.0);
  EXPECT_LE(r.test_score, 1.0);
}

}  // namespace
}  // namespace scanlab::nar::study
