#include "nar/study/compare.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>

#include "core/atomic_file.h"
#include "core/check.h"
#include "io/svg_plot.h"
#include "nar/algorithms/registry.h"
#include "nar/stats.h"

namespace scanlab::nar::study {

const std::vector<TaskPair>& task_pairs() {
  static const std::vector<TaskPair> pairs = {
      {"search", "binary_search", "parallel_search"},
      {"sort", "bubble_sort", "odd_even_transposition_sort"},
      {"scc", "strongly_connected_components", "parallel_scc"},
      {"prefix_sum", "prefix_sum", "prefix_sum_hillis_steele"},
  };
  return pairs;
}

const TaskPair& task_pair(const std::string& name) {
  std::string known;
  for (const auto& p : task_pairs()) {
    if (p.name == name) return p;
    known += (known.empty() ? "" : ", ") + p.name;
  }
  SCANLAB_FAIL("unknown task pair '", name, "'; expected one of ", known);
}

const std::vector<uint64_t>& paper_seeds() {
  static const std::vector<uint64_t> seeds = {42, 51, 34, 103, 60};
  return seeds;
}

std::string mean_std(const std::vector<double>& v, int precision) {
  if (v.empty()) return "–";
  double mean = 0;
  for (double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  double var = 0;
  for (double x : v) var += (x - mean) * (x - mean);
  const double sd = v.size() > 1 ? std::sqrt(var / static_cast<double>(v.size() - 1)) : 0.0;
  return fmt::format("{:.{}f} ± {:.{}f}", mean, precision, sd, precision);
}

namespace {

std::vector<const TrainResult*> runs_of(const std::vector<TrainResult>& runs, const std::string& algorithm,
                                        const std::string& processor) {
  std::vector<const TrainResult*> out;
  for (const auto& r : runs)
    if (r.options.algorithm == algorithm && r.options.processor == processor) out.push_back(&r);
  return out;
}

template <class F>
std::vector<double> collect(const std::vector<const TrainResult*>& rs, F f) {
  std::vector<double> v;
  for (const auto* r : rs) v.push_back(f(*r));
  return v;
}

// Mean validation curve over seeds (all runs of one cell share their evaluation steps).
io::PlotSeries mean_curve(const std::vector<const TrainResult*>& rs, const std::string& label) {
  io::PlotSeries s{label, {}, {}};
  if (rs.empty()) return s;
  for (size_t k = 0; k < rs.front()->val_curve.size(); ++k) {
    double sum = 0;
    for (const auto* r : rs) sum += r->val_curve.at(k).score;
    s.x.push_back(static_cast<double>(rs.front()->val_curve[k].step));
    s.y.push_back(sum / static_cast<double>(rs.size()));
  }
  return s;
}

void write_outputs(const CompareOptions& o, const std::vector<TrainResult>& runs, const std::string& table) {
  if (o.out_dir.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(o.out_dir, ec);
  SCANLAB_CHECK(!ec, "cannot create the output directory '", o.out_dir, "': ", ec.message());
  std::string jsonl, csv = csv_header() + "\n";
  for (const auto& r : runs) {
    jsonl += result_to_json(r) + "\n";
    csv += result_to_csv_row(r) + "\n";
  }
  write_file_atomically(o.out_dir + "/results.jsonl", jsonl);
  write_file_atomically(o.out_dir + "/summary.csv", csv);
  write_file_atomically(o.out_dir + "/table.md", table);
}

void write_plots(const CompareOptions& o, const std::vector<TrainResult>& runs) {
  if (o.out_dir.empty()) return;
  for (const auto& plot : comparison_plots(runs, o.pairs, o.processors))
    write_file_atomically(o.out_dir + "/" + plot.file, plot.svg);
}

}  // namespace

std::vector<NamedPlot> comparison_plots(const std::vector<TrainResult>& runs,
                                        const std::vector<std::string>& pair_names,
                                        const std::vector<std::string>& processors) {
  std::vector<NamedPlot> out;
  for (const auto& name : pair_names) {
    const TaskPair& p = task_pair(name);
    const bool any = std::any_of(runs.begin(), runs.end(), [&](const TrainResult& r) {
      return r.options.algorithm == p.sequential || r.options.algorithm == p.parallel;
    });
    if (!any) continue;  // a merge of studies that did not run this pair
    std::vector<io::PlotSeries> curves;
    std::vector<std::vector<double>> times(2);
    for (const auto& proc : processors) {
      for (int side = 0; side < 2; ++side) {
        const std::string& alg = side == 0 ? p.sequential : p.parallel;
        const auto rs = runs_of(runs, alg, proc);
        curves.push_back(mean_curve(rs, alg + " / " + proc));
        double sum = 0;
        for (const auto* r : rs) sum += r->mean_step_seconds * 1e3;
        times[side].push_back(rs.empty() ? 0.0 : sum / static_cast<double>(rs.size()));
      }
    }
    out.push_back({"score_vs_step_" + p.name + ".svg",
                   io::svg_line_plot(curves, {"validation score vs training step: " + p.name, "training step",
                                              "val score (mean over seeds)"})});
    out.push_back({"time_per_step_" + p.name + ".svg",
                   io::svg_bar_chart(processors, {p.sequential, p.parallel}, times,
                                     {"time per training step: " + p.name, "", "ms per step"}, true)});
  }
  return out;
}

std::map<std::string, StatsRow> study_efficiency(const std::vector<TrainResult>& runs) {
  std::map<std::string, StatsRow> out;
  std::map<int64_t, std::vector<std::string>> by_size;  // training n -> algorithms trained at it
  const auto& registry = algorithm_registry();
  for (const auto& r : runs) {
    const bool known = std::any_of(registry.begin(), registry.end(),
                                   [&](const AlgorithmInfo& a) { return a.name == r.options.algorithm; });
    if (!known) continue;  // e.g. a hand-made test task: its columns show "-"
    auto& algs = by_size[r.options.train_nodes];
    if (std::find(algs.begin(), algs.end(), r.options.algorithm) == algs.end()) algs.push_back(r.options.algorithm);
  }
  for (const auto& [n, algs] : by_size) {
    StatsOptions so;  // `nar stats` defaults: 1,000 samples, sampler seed 1
    so.sizes = {n};
    so.algorithms = algs;
    for (const auto& row : compute_stats(so)) out[row.algorithm + "@" + std::to_string(n)] = row;
  }
  return out;
}

std::string comparison_table(const std::vector<TrainResult>& runs, const std::vector<TaskPair>& pairs,
                             const std::vector<std::string>& processors) {
  return comparison_table(runs, pairs, processors, study_efficiency(runs));
}

std::string comparison_table(const std::vector<TrainResult>& runs, const std::vector<TaskPair>& pairs,
                             const std::vector<std::string>& processors,
                             const std::map<std::string, StatsRow>& efficiency) {
  int64_t train_n = 0, val_n = 0, test_n = 0;
  if (!runs.empty()) {
    train_n = runs.front().options.train_nodes;
    val_n = runs.front().options.val_nodes;
    test_n = runs.front().options.test_nodes;
  }
  std::string md = fmt::format(
      "| pair | processor | algorithm | unroll steps | node eff. (n = {}) | edge eff. (n = {}) | seeds | train time "
      "(s) | "
      "ms / step | ID score (n = {}) | OOD score (n = {}) |\n"
      "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
      train_n, train_n, val_n, test_n);
  for (const auto& p : pairs) {
    for (const auto& proc : processors) {
      for (const auto* alg : {&p.sequential, &p.parallel}) {
        const auto rs = runs_of(runs, *alg, proc);
        if (rs.empty()) continue;
        auto eff = efficiency.find(*alg + "@" + std::to_string(rs.front()->options.train_nodes));
        const bool defined = eff != efficiency.end() && eff->second.with_steps > 0;
        md += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", p.name, proc, *alg,
                          format_unroll_steps(rs.front()->train_unroll_steps),
                          defined ? fmt::format("{:.3f}", eff->second.node_efficiency) : "-",
                          defined ? fmt::format("{:.4f}", eff->second.edge_efficiency) : "-", rs.size(),
                          mean_std(collect(rs, [](const TrainResult& r) { return r.train_seconds; }), 2),
                          mean_std(collect(rs, [](const TrainResult& r) { return r.mean_step_seconds * 1e3; }), 1),
                          mean_std(collect(rs, [](const TrainResult& r) { return r.best_val; }), 3),
                          mean_std(collect(rs, [](const TrainResult& r) { return r.test_score; }), 3));
      }
    }
  }
  return md;
}

CompareResult merge_comparisons(const std::vector<std::string>& result_dirs, const CompareOptions& o) {
  SCANLAB_CHECK(!result_dirs.empty(), "merge: no result directories given");
  std::vector<TaskPair> pairs;
  for (const auto& name : o.pairs) pairs.push_back(task_pair(name));
  CompareResult result;
  for (const auto& dir : result_dirs) {
    const std::string path = dir + "/results.jsonl";
    SCANLAB_CHECK(std::filesystem::exists(path), "merge: '", path,
                  "' does not exist; expected the --out-dir of a finished or interrupted nar compare");
    std::istringstream lines(read_file(path));
    std::string line;
    for (int64_t n = 1; std::getline(lines, line); ++n) {
      if (line.empty()) continue;
      try {
        result.runs.push_back(result_from_json(line));
      } catch (const Error& e) {
        SCANLAB_FAIL(path, " line ", n, ": ", e.what());
      }
    }
  }
  result.table_markdown = comparison_table(result.runs, pairs, o.processors);
  write_outputs(o, result.runs, result.table_markdown);
  write_plots(o, result.runs);
  return result;
}

CompareResult run_comparison(const CompareOptions& o, const SplitMaker& make_splits, at::Device device,
                             std::ostream* progress) {
  SCANLAB_CHECK(o.seeds >= 1 && o.seeds <= static_cast<int64_t>(paper_seeds().size()), "--seeds must be in 1..",
                paper_seeds().size(), ", got ", o.seeds);
  SCANLAB_CHECK(!o.pairs.empty() && !o.processors.empty(), "the study needs at least one pair and one processor");
  SCANLAB_CHECK(o.side == "both" || o.side == "sequential" || o.side == "parallel", "side '", o.side,
                "' is not both, sequential or parallel");
  std::vector<uint64_t> seeds(paper_seeds().begin(), paper_seeds().begin() + o.seeds);
  if (o.only_seed != 0) {
    const auto& all = paper_seeds();
    SCANLAB_CHECK(std::find(all.begin(), all.end(), o.only_seed) != all.end(), "seed ", o.only_seed,
                  " is not one of the paper's seeds (42, 51, 34, 103, 60)");
    seeds = {o.only_seed};
  }
  std::vector<TaskPair> pairs;
  for (const auto& name : o.pairs) pairs.push_back(task_pair(name));
  CompareResult result;
  std::vector<TrainResult> planned;  // one stand-in per algorithm, for the efficiency columns
  for (const auto& p : pairs)
    for (const auto* alg : {&p.sequential, &p.parallel}) {
      planned.emplace_back();
      planned.back().options = o.base;
      planned.back().options.algorithm = *alg;
    }
  const auto efficiency = study_efficiency(planned);
  // Seeds run in the outer loop and the two algorithms of a pair alternate, so a study cut short
  // (a time limit, a kill) leaves both sides of every finished seed: results.jsonl is rewritten
  // after every run.
  for (const auto& p : pairs) {
    std::vector<std::pair<TrainOptions, Splits>> sides;
    for (const auto* alg : {&p.sequential, &p.parallel}) {
      if (o.side == "sequential" && alg != &p.sequential) continue;
      if (o.side == "parallel" && alg != &p.parallel) continue;
      TrainOptions base = o.base;
      base.algorithm = *alg;
      sides.emplace_back(base, make_splits(base));
    }
    for (const auto& proc : o.processors) {
      for (const uint64_t seed : seeds) {
        for (const auto& [base, splits] : sides) {
          TrainOptions run = base;
          run.processor = proc;
          run.seed = seed;
          result.runs.push_back(train_and_evaluate(run, splits, device, nullptr, progress));
          const TrainResult& r = result.runs.back();
          if (progress) {
            *progress << fmt::format("{} {} seed {}: {:.2f} s ({:.1f} ms/step), val {:.3f}, test {:.3f}\n",
                                     run.algorithm, proc, run.seed, r.train_seconds, r.mean_step_seconds * 1e3,
                                     r.best_val, r.test_score);
            progress->flush();
          }
          write_outputs(o, result.runs, comparison_table(result.runs, pairs, o.processors, efficiency));
        }
      }
    }
  }
  result.table_markdown = comparison_table(result.runs, pairs, o.processors, efficiency);
  write_outputs(o, result.runs, result.table_markdown);
  write_plots(o, result.runs);
  return result;
}

}  // namespace scanlab::nar::study
