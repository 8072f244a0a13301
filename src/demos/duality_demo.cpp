#include "demos/duality_demo.h"

#include <fmt/format.h>

#include "core/check.h"
#include "core/memory.h"
#include "scan/mlp_agg.h"
#include "scan/reference.h"

namespace scanlab::demos {

using scan::AggCounter;
using scan::batch_tensor_agg;
using scan::dyadic_exclusive_reference;
using scan::RandomMlpAgg;
using scan::ScanKind;
using scan::TensorAgg;
using scan::TensorOnlineScanner;
using scan::TensorState;

void check_scan_fits(int64_t chunks, int64_t batch, int64_t dim, double element_bytes, at::Device device,
                     const std::string& what) {
  const double n = static_cast<double>(chunks), d = static_cast<double>(dim);
  const double states = n * static_cast<double>(batch) * d;
  check_fits_in_memory(element_bytes * (4.0 * states + 4.0 * d * d) + 4.0 * 512.0 * n, device, what);
}

DualityDemoReport run_duality_demo(const DualityDemoOptions& opts, at::Device device) {
  SCANLAB_CHECK(opts.chunks >= 1, "--chunks ", opts.chunks, ": expected at least 1");
  SCANLAB_CHECK(opts.batch >= 1 && opts.dim >= 1, "--batch and --dim must be positive");
  check_scan_fits(opts.chunks, opts.batch, opts.dim, 8.0, device,
                  fmt::format("demo: --chunks {} x --batch {} x --dim {}", opts.chunks, opts.batch, opts.dim));
  RandomMlpAgg mlp(opts.dim, 2 * opts.dim, opts.seed, at::kDouble, device);
  TensorAgg agg = [&](const TensorState& a, const TensorState& b) { return mlp(a, b); };
  auto gen_opts = at::TensorOptions().dtype(at::kDouble).device(device);
  std::vector<TensorState> xs;
  for (int64_t i = 0; i < opts.chunks; ++i) xs.push_back({at::randn({opts.batch, opts.dim}, gen_opts)});

  DualityDemoReport r;
  r.chunks = opts.chunks;
  AggCounter par;
  auto parallel = tensor_blelloch_scan(xs, agg, ScanKind::Inclusive, &par);
  r.parallel_calls = par.calls;
  r.parallel_pairs = par.pairs;

  TensorOnlineScanner online(agg);
  auto reference = dyadic_exclusive_reference<TensorState>(
      [&] {
        auto v = xs;
        v.push_back(xs.back());
        return v;
      }(),
      batch_tensor_agg(agg));
  for (int64_t i = 0; i < opts.chunks; ++i) {
    online.insert(xs[i]);
    const at::Tensor p = (*parallel[i])[0];
    r.max_abs_diff = std::max(r.max_abs_diff, (p - (*online.prefix())[0]).abs().max().item<double>());
    r.max_abs_diff_reference =
        std::max(r.max_abs_diff_reference, (p - (*reference[i + 1])[0]).abs().max().item<double>());
    r.stored_states_after.push_back(online.stored_states());
    r.max_stored_states = std::max(r.max_stored_states, online.stored_states());
    r.max_stored_bytes = std::max(r.max_stored_bytes, online.stored_bytes());
  }
  r.online_calls = online.agg_counter().calls;
  return r;
}

std::string format_duality_report(const DualityDemoReport& r) {
  std::string s;
  s += fmt::format("Prefix scan of {} chunk states with a random non-associative MLP Agg (float64)\n", r.chunks);
  s += fmt::format("  parallel Blelloch scan : {:>6} batched Agg calls ({} pairs)\n", r.parallel_calls,
                   r.parallel_pairs);
  s += fmt::format("  online binary counter  : {:>6} Agg calls over {} inserts ({:.2f} per insert)\n", r.online_calls,
                   r.chunks, static_cast<double>(r.online_calls) / r.chunks);
  s += fmt::format("  online stored states   : at most {} ({} bytes); bound 2*(floor(log2 m)+1) = {}\n",
                   r.max_stored_states, r.max_stored_bytes,
                   2 * (static_cast<int64_t>(std::floor(std::log2(static_cast<double>(r.chunks)))) + 1));
  s += fmt::format("  max |parallel - online|    over all prefixes: {:.3e}\n", r.max_abs_diff);
  s += fmt::format("  max |parallel - reference| over all prefixes: {:.3e}\n", r.max_abs_diff_reference);
  s += fmt::format("  => {}\n", r.max_abs_diff < 1e-12 && r.max_abs_diff_reference < 1e-12
                                    ? "training (parallel) and inference (online) compute the same function"
                                    : "MISMATCH: parallel and online disagree");
  return s;
}

}  // namespace scanlab::demos
