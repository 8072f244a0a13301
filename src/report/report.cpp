#include "report/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "core/atomic_file.h"
#include "core/check.h"
#include "core/text.h"
#include "io/svg_plot.h"
#include "nar/stats.h"
#include "nar/study/compare.h"
#include "report/png.h"

namespace scanlab::report {
namespace fs = std::filesystem;

namespace {

std::string slug(const std::string& s) {
  std::string out;
  for (char c : s) {
    const bool keep = std::isalnum(static_cast<unsigned char>(c));
    if (keep)
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    else if (!out.empty() && out.back() != '_')
      out += '_';
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out.empty() ? "plot" : out;
}

std::string f4(double v) { return std::isfinite(v) ? fmt::format("{:.4f}", v) : "NaN"; }
std::string or_dash(int64_t v) { return v > 0 ? std::to_string(v) : "-"; }

// The page as a list of blocks, rendered twice: markdown and HTML.
struct Block {
  enum Kind { Heading, Text, TableBlock, Figure } kind;
  int level = 0;
  std::string text;  // heading / paragraph / figure title
  Table table;
  std::string svg, png;  // figure files, relative to the page
};

class Page {
 public:
  Page(std::string out_dir, bool png) : out_(std::move(out_dir)), png_(png) {}
  void heading(int level, const std::string& text) { blocks_.push_back({Block::Heading, level, text, {}, {}, {}}); }
  void text(const std::string& text) { blocks_.push_back({Block::Text, 0, text, {}, {}, {}}); }
  void table(Table t) { blocks_.push_back({Block::TableBlock, 0, "", std::move(t), {}, {}}); }
  // Writes <name>.svg (and .png) and shows it.
  void figure(const std::string& name, const std::string& title, const std::string& svg) {
    std::string base = slug(name);
    if (used_[base]++) base += "_" + std::to_string(used_[base]);
    Block b{Block::Figure, 0, title, {}, base + ".svg", png_ ? base + ".png" : ""};
    write_file_atomically(out_ + "/" + b.svg, svg);
    files_.push_back(b.svg);
    if (png_) {
      svg_to_png(svg, out_ + "/" + b.png);
      files_.push_back(b.png);
    }
    blocks_.push_back(std::move(b));
  }
  std::string markdown() const;
  std::string html(const std::string& title) const;
  const std::vector<std::string>& files() const { return files_; }

 private:
  std::string out_;
  bool png_;
  std::vector<Block> blocks_;
  std::map<std::string, int> used_;
  std::vector<std::string> files_;
};

std::string Page::markdown() const {
  std::string md;
  for (const auto& b : blocks_) {
    if (b.kind == Block::Heading)
      md += std::string(static_cast<size_t>(b.level), '#') + " " + b.text + "\n\n";
    else if (b.kind == Block::Text)
      md += b.text + "\n\n";
    else if (b.kind == Block::TableBlock)
      md += table_markdown(b.table) + "\n";
    else
      md += "![" + b.text + "](" + b.svg + ")" + (b.png.empty() ? "" : " ([PNG](" + b.png + "))") + "\n\n";
  }
  return md;
}

constexpr const char* kStyle =
    R"(body{font-family:sans-serif;max-width:1200px;margin:1em auto;padding:0 1em;color:#222;line-height:1.4}
table{border-collapse:collapse;margin:0.5em 0 1.2em;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f0f0f0}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.agrees{background:#d9f2d9;font-weight:bold}
td.disagrees{background:#f8d4d4;font-weight:bold}
td.not-established{background:#eeeeee}
figure{display:inline-block;margin:0.5em 1em 1em 0}
figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:12px;color:#555}
nav li{display:inline;margin-right:1em}
div.scroll{overflow-x:auto})";

std::string Page::html(const std::string& title) const {
  std::string body, nav;
  for (const auto& b : blocks_) {
    if (b.kind == Block::Heading) {
      const std::string id = slug(b.text);
      body += fmt::format("<h{0} id=\"{1}\">{2}</h{0}>\n", b.level, id, io::xml_escape(b.text));
      if (b.level == 2) nav += fmt::format("<li><a href=\"#{}\">{}</a></li>", id, io::xml_escape(b.text));
    } else if (b.kind == Block::Text) {
      body += "<p>" + io::xml_escape(b.text) + "</p>\n";
    } else if (b.kind == Block::TableBlock) {
      body += "<div class=\"scroll\">\n" + table_html(b.table) + "</div>\n";
    } else {
      body += fmt::format("<figure><img src=\"{}\" alt=\"{}\"><figcaption>{}{}</figcaption></figure>\n", b.svg,
                          io::xml_escape(b.text), io::xml_escape(b.text),
                          b.png.empty() ? "" : fmt::format(" (<a href=\"{}\">PNG</a>)", b.png));
    }
  }
  return fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n"
      "<style>\n{}\n</style>\n</head>\n<body>\n<nav><ul>{}</ul></nav>\n{}</body>\n</html>\n",
      io::xml_escape(title), kStyle, nav, body);
}

// ---- sections ------------------------------------------------------------------------------

void claims_section(Page& page, const std::vector<Claim>& claims) {
  page.heading(2, "Claims");
  page.text(
      "Each claim of the papers beside what the runs below measured. The verdict follows a fixed rule "
      "(src/report/README.md): near perfect means accuracy >= 0.95 (error <= 0.05); a model's failure "
      "counts only where another model reached that at the same length, and a claim is not established "
      "when the runs it needs are absent or learned nothing.");
  Table t{{"#", "paper", "claim", "measured", "verdict"}, {}};
  int n = 0;
  for (const auto& c : claims)
    t.rows.push_back({std::to_string(++n), c.paper, c.claim, c.measured, verdict_name(c.verdict)});
  page.table(t);
}

// Runs are grouped for plotting by the folder holding them and their training length.
std::string group_of(const TrainingRun& r) {
  fs::path p(r.path);
  fs::path folder = p.filename() == "metrics.jsonl" ? p.parent_path().parent_path() : p.parent_path();
  const int64_t len = r.meta.seq_len > 0 ? r.meta.seq_len : r.last_seq_len;
  return folder.generic_string() + (len > 0 ? fmt::format(" (T = {})", len) : "");
}

void training_section(Page& page, const std::vector<TrainingRun>& runs) {
  page.heading(2, "Training runs");
  if (runs.empty()) {
    page.text("No training run (metrics.jsonl) among the runs.");
    return;
  }
  Table t{{"run", "metrics file", "task", "model", "c", "trained length", "steps", "final train loss",
           "final eval loss", "final eval accuracy", "wall s", "described by"},
          {}};
  for (const auto& r : runs)
    t.rows.push_back({r.name, r.path, r.meta.task.empty() ? "-" : r.meta.task,
                      r.meta.model.empty() ? "-" : r.meta.model, or_dash(r.meta.chunk), or_dash(r.meta.seq_len),
                      std::to_string(r.last_step), r.loss.empty() ? "-" : f4(r.loss.back().value),
                      r.eval_loss.empty() ? "-" : f4(r.eval_loss.back().value),
                      r.eval_acc.empty() ? "-" : f4(r.eval_acc.back().value),
                      r.elapsed_s < 0 ? "-" : fmt::format("{:.0f}", r.elapsed_s), r.meta.source});
  page.table(t);
  std::map<std::string, std::vector<const TrainingRun*>> groups;
  for (const auto& r : runs) groups[group_of(r)].push_back(&r);
  page.heading(3, "Learning curves");
  for (const auto& [group, members] : groups) {
    const bool have_eval_acc =
        std::any_of(members.begin(), members.end(), [](auto* r) { return !r->eval_acc.empty(); });
    std::vector<io::PlotSeries> loss, acc;
    for (const auto* r : members) {
      io::PlotSeries l{r->name, {}, {}}, a{r->name, {}, {}};
      for (const auto& p : r->loss) l.x.push_back(p.step), l.y.push_back(p.value);
      for (const auto& p : have_eval_acc ? r->eval_acc : r->acc) a.x.push_back(p.step), a.y.push_back(p.value);
      if (!l.x.empty()) loss.push_back(l);
      if (!a.x.empty()) acc.push_back(a);
    }
    const std::string which = have_eval_acc ? "validation accuracy" : "training-batch accuracy";
    if (!loss.empty())
      page.figure("curves " + group + " loss", "Training loss vs step: " + group,
                  io::svg_line_plot(loss, {"Training loss: " + group, "step", "loss"}));
    if (!acc.empty())
      page.figure("curves " + group + " accuracy", which + " vs step: " + group,
                  io::svg_line_plot(acc, {which + ": " + group, "step", "accuracy"}));
  }
}

void eval_section(Page& page, const std::vector<EvalSet>& sets) {
  page.heading(2, "Evaluations");
  if (sets.empty()) page.text("No `scanlab eval` output (eval.json) among the runs.");
  for (const auto& set : sets) {
    page.heading(3, set.path);
    Table t{{"model", "task", "c", "length", "scored", "loss", "accuracy", "error rate", "perplexity"}, {}};
    std::map<std::string, io::PlotSeries> by_model;
    std::vector<std::string> order;
    for (const auto& r : set.rows) {
      t.rows.push_back({r.model, r.meta.task.empty() ? "-" : r.meta.task, or_dash(r.meta.chunk),
                        std::to_string(r.length), std::to_string(r.scored), f4(r.loss), f4(r.accuracy),
                        f4(1 - r.accuracy), fmt::format("{:.2f}", r.perplexity)});
      if (!by_model.count(r.model)) order.push_back(r.model), by_model[r.model].name = r.model;
      by_model[r.model].x.push_back(static_cast<double>(r.length));
      by_model[r.model].y.push_back(1 - r.accuracy);
    }
    page.table(t);
    const bool sweep =
        std::any_of(by_model.begin(), by_model.end(), [](const auto& kv) { return kv.second.x.size() >= 2; });
    if (!sweep) continue;
    std::vector<io::PlotSeries> series;
    for (const auto& m : order) series.push_back(by_model[m]);
    page.figure("error vs length " + set.path, "Length generalisation (error rate vs length): " + set.path,
                io::svg_line_plot(series, {"Error rate vs sequence length: " + set.path, "length", "error rate"}));
  }
}

void nar_section(Page& page, const std::vector<NarStudy>& studies) {
  page.heading(2, "NAR studies");
  if (studies.empty()) page.text("No NAR study (results.jsonl of `nar compare`) among the runs.");
  for (const auto& s : studies) {
    page.heading(3, s.path);
    std::set<std::string> algorithms;
    std::vector<std::string> processors, pairs;
    for (const auto& r : s.runs) {
      algorithms.insert(r.options.algorithm);
      if (std::find(processors.begin(), processors.end(), r.options.processor) == processors.end())
        processors.push_back(r.options.processor);
    }
    std::sort(processors.begin(), processors.end());
    for (const auto& p : nar::study::task_pairs())
      if (algorithms.count(p.sequential) || algorithms.count(p.parallel)) pairs.push_back(p.name);
    std::vector<nar::study::TaskPair> pair_defs;
    for (const auto& p : pairs) pair_defs.push_back(nar::study::task_pair(p));
    page.text(
        fmt::format("{} runs. Mean ± std over seeds; scores are the best-validation checkpoint's.", s.runs.size()));
    page.table(table_from_markdown(nar::study::comparison_table(s.runs, pair_defs, processors)));
    if (s.runs.empty()) continue;
    nar::StatsOptions so;
    so.sizes = {s.runs.front().options.val_nodes};
    so.algorithms.assign(algorithms.begin(), algorithms.end());
    Table eff{{"algorithm", "parallel", "n", "samples", "hint steps (mean)", "node efficiency", "edge efficiency"}, {}};
    for (const auto& row : nar::compute_stats(so)) {
      const bool defined = row.with_steps > 0;
      eff.rows.push_back({row.algorithm, row.parallel ? "yes" : "no", std::to_string(row.nodes),
                          std::to_string(row.samples), fmt::format("{:.1f}", row.length_mean),
                          defined ? fmt::format("{:.3f}", row.node_efficiency) : "-",
                          defined ? fmt::format("{:.3f}", row.edge_efficiency) : "-"});
    }
    page.text(
        "Node and edge efficiency (`nar stats`: the share of nodes / node pairs whose hints change per step, "
        "on the training size; '-' for one-step trajectories).");
    page.table(eff);
    for (const auto& plot : nar::study::comparison_plots(s.runs, pairs, processors))
      page.figure(s.path + " " + plot.file.substr(0, plot.file.size() - 4), plot.file + ": " + s.path, plot.svg);
  }
}

void decode_section(Page& page, const std::vector<DecodeSet>& sets) {
  page.heading(2, "Decode latency and state");
  if (sets.empty())
    page.text(
        "No decode benchmark (decode.json, written by `scanlab bench decode --plot-dir` or `-o json`) among "
        "the runs.");
  for (const auto& set : sets) {
    page.heading(3, set.path);
    if (set.rows.empty()) continue;
    Table t{{"model", "device", "d", "depth"}, {}};
    for (int64_t end : set.rows.front().window_end) t.header.push_back(fmt::format("p50 ms @{}", end));
    for (int64_t end : set.rows.front().window_end) t.header.push_back(fmt::format("state KiB @{}", end));
    std::vector<io::PlotSeries> latency, state;
    for (const auto& r : set.rows) {
      std::vector<std::string> row{r.model, r.device, std::to_string(r.width), std::to_string(r.depth)};
      io::PlotSeries lat{r.model, {}, {}}, bytes{r.model, {}, {}};
      for (size_t i = 0; i < r.window_end.size(); ++i) {
        lat.x.push_back(static_cast<double>(r.window_end[i]));
        lat.y.push_back(r.p50_ms[i]);
        bytes.x.push_back(static_cast<double>(r.window_end[i]));
        bytes.y.push_back(static_cast<double>(r.state_bytes[i]) / 1024.0);
      }
      for (double v : r.p50_ms) row.push_back(fmt::format("{:.3f}", v));
      for (int64_t b : r.state_bytes) row.push_back(fmt::format("{:.1f}", static_cast<double>(b) / 1024.0));
      row.resize(t.header.size(), "-");
      t.rows.push_back(row);
      latency.push_back(lat);
      state.push_back(bytes);
    }
    page.table(t);
    page.figure("decode latency " + set.path, "Per-token latency (p50) vs token index: " + set.path,
                io::svg_line_plot(latency, {"Per-token latency: " + set.path, "token index", "ms per token (p50)"}));
    page.figure("decode state " + set.path, "Stream state vs token index: " + set.path,
                io::svg_line_plot(state, {"Stream state: " + set.path, "token index", "state KiB"}));
  }
}

}  // namespace

std::string table_markdown(const Table& t) {
  auto cell = [](const std::string& s) {
    std::string out;
    for (char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c);
    return out;
  };
  std::string md = "|";
  for (const auto& h : t.header) md += " " + cell(h) + " |";
  md += "\n|";
  for (size_t i = 0; i < t.header.size(); ++i) md += "---|";
  md += "\n";
  for (const auto& row : t.rows) {
    md += "|";
    for (const auto& c : row) md += " " + cell(c) + " |";
    md += "\n";
  }
  return md;
}

std::string table_html(const Table& t) {
  auto numeric = [](const std::string& s) {
    return !s.empty() && s.find_first_not_of("0123456789.-+e ±NaN") == std::string::npos &&
           s.find_first_of("0123456789") != std::string::npos;
  };
  std::string h = "<table>\n<thead><tr>";
  for (const auto& c : t.header) h += "<th>" + io::xml_escape(c) + "</th>";
  h += "</tr></thead>\n<tbody>\n";
  for (const auto& row : t.rows) {
    h += "<tr>";
    for (const auto& c : row) {
      std::string cls;
      if (c == verdict_name(Verdict::Agrees))
        cls = "agrees";
      else if (c == verdict_name(Verdict::Disagrees))
        cls = "disagrees";
      else if (c == verdict_name(Verdict::NotEstablished))
        cls = "not-established";
      else if (numeric(c))
        cls = "num";
      h += (cls.empty() ? "<td>" : "<td class=\"" + cls + "\">") + io::xml_escape(c) + "</td>";
    }
    h += "</tr>\n";
  }
  return h + "</tbody>\n</table>\n";
}

Table table_from_markdown(const std::string& md) {
  auto cells = [](const std::string& line) {
    std::vector<std::string> out;
    std::string cur;
    for (size_t i = 1; i < line.size(); ++i) {  // past the leading '|'
      if (line[i] == '\\' && i + 1 < line.size() && line[i + 1] == '|')
        cur += '|', ++i;
      else if (line[i] == '|')
        out.push_back(trim_blanks(cur)), cur.clear();
      else
        cur += line[i];
    }
    return out;
  };
  Table t;
  std::istringstream in(md);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    line = trim_blanks(line);
    if (line.empty() || line[0] != '|') continue;
    if (n++ == 0)
      t.header = cells(line);
    else if (n == 2)
      continue;  // the |---| rule
    else
      t.rows.push_back(cells(line));
  }
  return t;
}

ReportSummary write_report(const ReportOptions& o) {
  SCANLAB_CHECK(!o.out_dir.empty(), "report: give --out, the folder to write index.html and report.md into");
  const RunSet runs = discover_runs(o.runs, o.out_dir);
  std::error_code ec;
  fs::create_directories(o.out_dir, ec);
  SCANLAB_CHECK(!ec && fs::is_directory(o.out_dir), "report: cannot create the output folder '", o.out_dir, "' (",
                ec.message(), ")");
  ReportSummary summary;
  summary.training = static_cast<int64_t>(runs.training.size());
  summary.evals = static_cast<int64_t>(runs.evals.size());
  summary.studies = static_cast<int64_t>(runs.nar.size());
  summary.decodes = static_cast<int64_t>(runs.decode.size());
  summary.png = png_supported();
  summary.claims = judge_claims(runs);
  Page page(o.out_dir, summary.png);
  page.heading(1, o.title);
  std::string sources;
  for (const auto& r : o.runs) sources += (sources.empty() ? "" : ", ") + r;
  page.text(
      fmt::format("Generated by `scanlab report` from {}: {} training runs, {} evaluation files, {} NAR studies, "
                  "{} decode benchmarks.{}",
                  sources, summary.training, summary.evals, summary.studies, summary.decodes,
                  summary.png ? "" : " Plots are SVG only: this scanlab was built without librsvg2-dev."));
  claims_section(page, summary.claims);
  training_section(page, runs.training);
  eval_section(page, runs.evals);
  nar_section(page, runs.nar);
  decode_section(page, runs.decode);
  write_file_atomically(o.out_dir + "/report.md", page.markdown());
  write_file_atomically(o.out_dir + "/index.html", page.html(o.title));
  summary.files = page.files();
  summary.files.push_back("report.md");
  summary.files.push_back("index.html");
  return summary;
}

}  // namespace scanlab::report
