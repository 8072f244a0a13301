// `scanlab report`: one page (index.html) and the same tables in markdown (report.md) from the run
// files under the --runs folders (report/runs.h): the claims table (report/claims.h), every
// training run with its learning curves, every `scanlab eval` table with its error-vs-length plot,
// every NAR study with its table, node/edge efficiency and charts, and every decode benchmark with
// its latency and state plots. Plots are SVG (io/svg_plot) and PNG (report/png.h); nothing in the
// page is typed by hand.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "report/claims.h"

namespace scanlab::report {

struct ReportOptions {
  std::vector<std::string> runs;  // folders to walk
  std::string out_dir;            // index.html, report.md and the plots; created if missing
  std::string title = "scanlab report";
};

struct ReportSummary {
  int64_t training = 0, evals = 0, studies = 0, decodes = 0;
  std::vector<std::string> files;  // what was written, relative to out_dir
  std::vector<Claim> claims;
  bool png = false;
};

// A table in the two forms the report writes. Markdown pipe tables from other commands
// (e.g. `nar compare`'s) are read back with table_from_markdown.
struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};
std::string table_markdown(const Table& t);
std::string table_html(const Table& t);
Table table_from_markdown(const std::string& md);

ReportSummary write_report(const ReportOptions& o);

}  // namespace scanlab::report
