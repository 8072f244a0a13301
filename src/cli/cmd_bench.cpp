// `scanlab bench scan`: figures for the scan engine (see bench/README.md).
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "scan_bench.h"

namespace scanlab::cli {

void register_bench(CLI::App& root, GlobalContext& ctx) {
  auto* bench = root.add_subcommand("bench", "Benchmarks that print figures");
  bench->require_subcommand(1);
  auto opts = std::make_shared<bench::ScanBenchOptions>();
  auto* scan = bench->add_subcommand("scan", "Parallel scan vs online scanner vs sequential reference");
  scan->add_option("--lengths", opts->lengths, "sequence lengths N")->delimiter(',')->capture_default_str();
  scan->add_option("--batch", opts->batch, "batch size")->capture_default_str()->check(CLI::PositiveNumber);
  scan->add_option("--dim", opts->dim, "state width")->capture_default_str()->check(CLI::PositiveNumber);
  scan->add_option("-r,--repeats", opts->repeats, "timed runs per cell")->capture_default_str()->check(CLI::PositiveNumber);
  scan->add_option("-o,--format", opts->format, "md or json")->capture_default_str()->check(CLI::IsMember({"md", "json"}));
  scan->callback([opts, &ctx] {
    const auto device = apply_runtime(ctx.runtime);
    std::cout << bench::format_scan_bench(bench::run_scan_bench(*opts, device), *opts, device.str());
  });
}

}  // namespace scanlab::cli
