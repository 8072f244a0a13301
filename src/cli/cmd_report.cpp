// `scanlab report`: one HTML page and the same tables in markdown from the runs' files (training
// metrics, eval.json, NAR results.jsonl, decode.json), with the papers' claims judged beside them.
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "report/report.h"

namespace scanlab::cli {

void register_report(CLI::App& root, GlobalContext&) {
  auto opts = std::make_shared<report::ReportOptions>();
  auto* cmd = root.add_subcommand(
      "report", "Write index.html and report.md from run folders: tables, learning curves, plots, the papers' claims");
  cmd->add_option("--runs", opts->runs,
                  "folders to walk for metrics.jsonl / <name>.metrics.jsonl, eval.json, results.jsonl, decode.json")
      ->required()
      ->expected(1, -1);
  cmd->add_option("--out", opts->out_dir, "folder for index.html, report.md and the SVG/PNG plots")->required();
  cmd->add_option("--title", opts->title, "the page's title")->capture_default_str();
  cmd->callback([opts] {
    const auto s = report::write_report(*opts);
    int agree = 0, disagree = 0, open = 0;
    for (const auto& c : s.claims) {
      if (c.verdict == report::Verdict::Agrees)
        ++agree;
      else if (c.verdict == report::Verdict::Disagrees)
        ++disagree;
      else
        ++open;
    }
    std::cout << "read " << s.training << " training runs, " << s.evals << " eval files, " << s.studies
              << " NAR studies, " << s.decodes << " decode benchmarks\n"
              << "claims: " << agree << " agree, " << disagree << " disagree, " << open << " not established\n"
              << "wrote " << opts->out_dir << "/index.html, report.md and " << s.files.size() - 2 << " plot files"
              << (s.png ? "" : " (SVG only: built without librsvg2-dev)") << "\n";
  });
}

}  // namespace scanlab::cli
