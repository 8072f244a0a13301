#include "scan_bench.h"

#include <ATen/Context.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <iostream>

#include "core/check.h"
#include "demos/duality_demo.h"
#include "scan/mlp_agg.h"
#include "scan/reference.h"
#include "timing.h"

namespace scanlab::bench {

std::vector<ScanBenchRow> run_scan_bench(const ScanBenchOptions& opts, at::Device device) {
  SCANLAB_CHECK(opts.repeats >= 1, "--repeats must be at least 1");
  SCANLAB_CHECK(opts.format == "md" || opts.format == "json", "--format '", opts.format, "': expected md or json");
  SCANLAB_CHECK(opts.batch >= 1 && opts.dim >= 1, "--batch and --dim must be positive");
  for (int64_t n : opts.lengths) {
    SCANLAB_CHECK(n >= 1, "--lengths: ", n, " is not a positive length");
    demos::check_scan_fits(n, opts.batch, opts.dim, 4.0, device,
                           fmt::format("bench scan: --lengths {} x --batch {} x --dim {}", n, opts.batch, opts.dim));
  }
  scan::RandomMlpAgg mlp(opts.dim, 2 * opts.dim, 7, at::kFloat, device);
  scan::TensorAgg agg = [&](const scan::TensorState& a, const scan::TensorState& b) { return mlp(a, b); };
  auto batched = scan::batch_tensor_agg(agg);
  std::vector<ScanBenchRow> rows;
  for (int64_t n : opts.lengths) {
    std::vector<scan::TensorState> xs;
    for (int64_t i = 0; i < n; ++i)
      xs.push_back({at::randn({opts.batch, opts.dim}, at::TensorOptions().device(device))});
    ScanBenchRow row{n, 0, 0, 0, 0, 0, 0};
    at::NoGradGuard no_grad;
    row.parallel_ms = median_ms(opts.repeats, device, [&] {
      scan::AggCounter c;
      scan::tensor_blelloch_scan(xs, agg, scan::ScanKind::Exclusive, &c);
      row.parallel_calls = c.calls;
    });
    row.online_ms = median_ms(opts.repeats, device, [&] {
      scan::TensorOnlineScanner online(agg);
      for (const auto& x : xs) {
        online.insert(x);
        (void)online.prefix();
      }
      row.online_calls = online.agg_counter().calls;
    });
    row.reference_ms = median_ms(opts.repeats, device, [&] {
      scan::AggCounter c;
      scan::dyadic_exclusive_reference(xs, batched, &c);
      row.reference_calls = c.calls;
    });
    rows.push_back(row);
    std::cerr << fmt::format("  N={} done\n", n);
  }
  return rows;
}

std::string format_scan_bench(const std::vector<ScanBenchRow>& rows, const ScanBenchOptions& opts,
                              const std::string& device_name) {
  if (opts.format == "json") {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& r : rows)
      j.push_back({{"n", r.n},
                   {"parallel_ms", r.parallel_ms},
                   {"online_ms", r.online_ms},
                   {"reference_ms", r.reference_ms},
                   {"parallel_calls", r.parallel_calls},
                   {"online_calls", r.online_calls},
                   {"reference_calls", r.reference_calls},
                   {"batch", opts.batch},
                   {"dim", opts.dim},
                   {"device", device_name}});
    return j.dump(2) + "\n";
  }
  std::string s = fmt::format(
      "All prefixes of N states [B={}, D={}], float32 MLP Agg, {}, median of {}\n\n"
      "| N | parallel ms | online ms | reference ms | online/parallel | parallel calls | online calls | reference "
      "calls |\n"
      "|---:|---:|---:|---:|---:|---:|---:|---:|\n",
      opts.batch, opts.dim, device_name, opts.repeats);
  for (const auto& r : rows)
    s += fmt::format("| {} | {:.3f} | {:.3f} | {:.3f} | {:.1f}x | {} | {} | {} |\n", r.n, r.parallel_ms, r.online_ms,
                     r.reference_ms, r.online_ms / r.parallel_ms, r.parallel_calls, r.online_calls, r.reference_calls);
  return s;
}

}  // namespace scanlab::bench
