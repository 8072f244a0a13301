// bench_scan: the scan engine benchmark as a standalone program (same as `scanlab bench scan`).
#include <CLI/CLI.hpp>

#include <iostream>

#include "core/check.h"
#include "core/runtime.h"
#include "scan_bench.h"

int main(int argc, char** argv) {
  CLI::App app{"Parallel scan vs online scanner vs sequential reference"};
  scanlab::RuntimeOptions rt;
  scanlab::bench::ScanBenchOptions opts;
  app.add_option("--device", rt.device, "cpu, cuda or auto")->capture_default_str();
  app.add_option("--threads", rt.threads, "CPU threads (0 = all)")->capture_default_str();
  app.add_option("--lengths", opts.lengths, "sequence lengths N")->delimiter(',')->capture_default_str();
  app.add_option("--batch", opts.batch, "batch size")->capture_default_str();
  app.add_option("--dim", opts.dim, "state width")->capture_default_str();
  app.add_option("-r,--repeats", opts.repeats, "timed runs per cell")->capture_default_str();
  app.add_option("-o,--format", opts.format, "md or json")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    const auto device = scanlab::apply_runtime(rt);
    std::cout << scanlab::bench::format_scan_bench(scanlab::bench::run_scan_bench(opts, device), opts, device.str());
  } catch (const scanlab::Error& e) {
    std::cerr << "bench_scan: error: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
