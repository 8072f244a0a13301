#include "affine_bench.h"

#include <fmt/format.h>

#include <functional>
#include <memory>
#include <utility>

#include "core/check.h"
#include "ops/affine_scan/affine_scan.h"
#include "ops/affine_scan/mlstm.h"
#include "ops/delta_rule/delta_rule.h"
#include "ops/registry.h"
#include "timing.h"

namespace scanlab::bench {
namespace {

struct OpCase {
  std::string name;
  std::function<void(int64_t T, bool chunked)> run;
};

// The registry's ops this report has always timed, with its row labels (the ungated linear attention
// and delta rule are `scanlab bench ops` rows only).
const std::pair<const char*, const char*> kOps[] = {{"scalar_gate", "affine scalar gate"},
                                                    {"gla", "affine diagonal gate"},
                                                    {"mlstm", "mlstm"},
                                                    {"gated_delta_rule", "gated delta rule"}};

// Each run draws its inputs (the registry's default draw, float32) inside the timed call, as this
// report always has: the reference / chunked ratios stay comparable with earlier figures.
std::vector<OpCase> op_cases(const AffineBenchOptions& o, at::Device device) {
  std::vector<OpCase> cases;
  for (const auto& [name, label] : kOps) {
    const ops::OpEntry& op = ops::find_op(name);
    cases.push_back({label, [&op, o, device](int64_t T, bool chunked) {
                       ops::OpDraw draw;
                       draw.device = device;
                       const ops::OpArgs a = op.make_args({o.batch, T, o.heads, o.dim, o.dim, o.chunk}, draw);
                       (void)(chunked ? op.chunked(a) : op.reference(a));
                     }});
  }
  return cases;
}

struct StepCase {
  std::string name;
  std::function<void()> torch_step, kernel_step;  // kernel_step empty where no kernel takes the case
};

// The decode steps at [B, H, D, D] float32 state: the affine step (scalar and diagonal gates), mLSTM
// and the gated delta rule, each through the torch path and the fused kernel.
std::vector<StepCase> step_cases(int64_t B, int64_t H, int64_t D, at::Device device) {
  auto opts = at::TensorOptions().device(device).dtype(at::kFloat);
  auto x = [&](std::vector<int64_t> s) { return at::randn(s, opts); };
  auto gate = [&](std::vector<int64_t> s) { return at::log_sigmoid(at::randn(s, opts) + 3.0); };
  std::vector<StepCase> cases;
  for (bool diagonal : {false, true}) {
    auto a = std::make_shared<ops::AffineStepArgs>(
        ops::AffineStepArgs{x({B, H, D}), x({B, H, D}), x({B, H, D}), diagonal ? gate({B, H, D}) : gate({B, H})});
    auto h = std::make_shared<at::Tensor>(at::zeros({B, H, D, D}, opts));
    auto y = std::make_shared<at::Tensor>(at::empty({B, H, D}, opts));
    StepCase c{diagonal ? "affine, diagonal gate" : "affine, scalar gate",
               [=] { (void)ops::affine_scan_step_torch(*a, *h); },
               {}};
    if (ops::affine_scan_step_cuda_supports(*a, *h)) c.kernel_step = [=] { ops::affine_scan_step_cuda(*a, *h, *y); };
    cases.push_back(c);
  }
  {
    auto a = std::make_shared<ops::MlstmStepArgs>(
        ops::MlstmStepArgs{x({B, H, D}), x({B, H, D}), x({B, H, D}), gate({B, H}), x({B, H})});
    auto s = std::make_shared<ops::MlstmState>(ops::mlstm_zero_state(B, H, D, D, opts));
    auto y = std::make_shared<at::Tensor>(at::empty({B, H, D}, opts));
    StepCase c{"mLSTM",
               [=] {
                 ops::MlstmState t = *s;
                 (void)ops::mlstm_step_torch(*a, t);
               },
               {}};
    if (ops::mlstm_step_cuda_supports(*a, *s)) c.kernel_step = [=] { ops::mlstm_step_cuda(*a, *s, *y); };
    cases.push_back(c);
  }
  {
    auto k = x({B, H, D});
    auto a = std::make_shared<ops::DeltaRuleStepArgs>(ops::DeltaRuleStepArgs{
        x({B, H, D}), k / k.norm(2, -1, true), x({B, H, D}), at::sigmoid(x({B, H})), gate({B, H})});
    auto h = std::make_shared<at::Tensor>(at::zeros({B, H, D, D}, opts));
    auto y = std::make_shared<at::Tensor>(at::empty({B, H, D}, opts));
    StepCase c{"gated delta rule",
               [=] {
                 at::Tensor t = *h;
                 (void)ops::delta_rule_step_torch(*a, t);
               },
               {}};
    if (ops::delta_rule_step_cuda_supports(*a, *h)) c.kernel_step = [=] { ops::delta_rule_step_cuda(*a, *h, *y); };
    cases.push_back(c);
  }
  return cases;
}

// Batch sweep of the decode steps against the copy bandwidth measured on the same bytes: a state-sized
// device-to-device copy reads and writes what a step reads and writes, so its rate is the ceiling.
std::string decode_step_table(const AffineBenchOptions& o, at::Device device) {
  const int64_t H = o.decode_heads, D = o.decode_dim;
  std::string out = fmt::format(
      "\n### decode step, float32 state [B, {}, {}, {}] ({:.2f} MiB per sequence) on {}\n\n"
      "Per-step times are back-to-back calls ({} per loop, median of {} loops). GB/s counts the state read and "
      "written once; copy GB/s is a state-sized device copy (same bytes) measured in the same run.\n\n",
      H, D, D, H * D * D * 4.0 / (1 << 20), device.str(), o.decode_inner, o.repeats);
  out +=
      "| step | B | torch us | kernel us | kernel GB/s | copy GB/s | kernel / copy |\n|---|---|---|---|---|---|---|\n";
  auto opts = at::TensorOptions().device(device).dtype(at::kFloat);
  for (int64_t B : o.decode_batches) {
    SCANLAB_CHECK(B >= 1, "--decode-batches: ", B, " is not a positive batch");
    at::Tensor src = at::randn({B, H, D, D}, opts), dst = at::empty_like(src);
    const double bytes = 2.0 * static_cast<double>(src.numel()) * 4.0;
    const double copy_us = 1e3 * median_ms_per_call(o.repeats, o.decode_inner, device, [&] { dst.copy_(src); });
    const double copy_gbs = bytes / (copy_us * 1e-6) / 1e9;
    for (const auto& c : step_cases(B, H, D, device)) {
      const double torch_us = 1e3 * median_ms_per_call(o.repeats, o.decode_inner, device, c.torch_step);
      if (!c.kernel_step) {
        out += fmt::format("| {} | {} | {:.1f} | - | - | {:.0f} | - |\n", c.name, B, torch_us, copy_gbs);
        continue;
      }
      const double us = 1e3 * median_ms_per_call(o.repeats, o.decode_inner, device, c.kernel_step);
      const double gbs = bytes / (us * 1e-6) / 1e9;
      out += fmt::format("| {} | {} | {:.1f} | {:.1f} | {:.0f} | {:.0f} | {:.0f}% |\n", c.name, B, torch_us, us, gbs,
                         copy_gbs, 100.0 * gbs / copy_gbs);
    }
  }
  return out;
}

}  // namespace

std::string run_affine_bench(const AffineBenchOptions& o, at::Device device) {
  SCANLAB_CHECK(o.repeats >= 1, "--repeats must be at least 1");
  at::NoGradGuard no_grad;
  std::string out = fmt::format("### affine ops, forward, float32, B={} H={} K=V={} chunk={} on {}\n\n", o.batch,
                                o.heads, o.dim, o.chunk, device.str());
  out += "| op | T | chunked ms | reference ms | reference / chunked |\n|---|---|---|---|---|\n";
  for (const auto& c : op_cases(o, device))
    for (int64_t T : o.lengths) {
      SCANLAB_CHECK(T >= 1, "--lengths: ", T, " is not a positive length");
      const double chunked = median_ms(o.repeats, device, [&] { c.run(T, true); });
      if (T > o.max_ref_length) {
        out += fmt::format("| {} | {} | {:.3f} | - | - |\n", c.name, T, chunked);
        continue;
      }
      const double ref = median_ms(o.repeats, device, [&] { c.run(T, false); });
      out += fmt::format("| {} | {} | {:.3f} | {:.3f} | {:.1f}x |\n", c.name, T, chunked, ref, ref / chunked);
    }

  out += decode_step_table(o, device);
  return out;
}

}  // namespace scanlab::bench
