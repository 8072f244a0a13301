#include "affine_bench.h"

#include <fmt/format.h>

#include <functional>

#include "core/check.h"
#include "ops/affine_scan/affine_scan.h"
#include "ops/affine_scan/mlstm.h"
#include "ops/delta_rule/delta_rule.h"
#include "timing.h"

namespace scanlab::bench {
namespace {

struct OpCase {
  std::string name;
  std::function<void(int64_t T, bool chunked)> run;
};

std::vector<OpCase> op_cases(const AffineBenchOptions& o, at::Device device) {
  auto opts = at::TensorOptions().device(device).dtype(at::kFloat);
  auto qkv = [=](int64_t T) {
    auto k = at::randn({o.batch, T, o.heads, o.dim}, opts);
    return std::vector<at::Tensor>{at::randn({o.batch, T, o.heads, o.dim}, opts) * 0.1, k / k.norm(2, -1, true),
                                   at::randn({o.batch, T, o.heads, o.dim}, opts)};
  };
  auto gate = [=](std::vector<int64_t> s) { return at::log_sigmoid(at::randn(s, opts) + 3.0); };
  auto affine = [=](bool diagonal) {
    return [=](int64_t T, bool chunked) {
      auto x = qkv(T);
      ops::AffineScanArgs a{x[0], x[1], x[2],
                            diagonal ? gate({o.batch, T, o.heads, o.dim}) : gate({o.batch, T, o.heads}), {}, o.chunk};
      (void)(chunked ? ops::affine_scan_chunked(a) : ops::affine_scan_ref(a));
    };
  };
  return {
      {"affine scalar gate", affine(false)},
      {"affine diagonal gate", affine(true)},
      {"mlstm",
       [=](int64_t T, bool chunked) {
         auto x = qkv(T);
         ops::MlstmArgs a{x[0], x[1], x[2], gate({o.batch, T, o.heads}), at::randn({o.batch, T, o.heads}, opts), {},
                          o.chunk};
         (void)(chunked ? ops::mlstm_chunked(a) : ops::mlstm_ref(a));
       }},
      {"gated delta rule",
       [=](int64_t T, bool chunked) {
         auto x = qkv(T);
         ops::DeltaRuleArgs a{x[0], x[1], x[2], at::sigmoid(at::randn({o.batch, T, o.heads}, opts)),
                              gate({o.batch, T, o.heads}), {}, o.chunk};
         (void)(chunked ? ops::delta_rule_chunked(a) : ops::delta_rule_ref(a));
       }},
  };
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

  const int64_t H = o.decode_heads, D = o.decode_dim;
  out += fmt::format("\n### decode step, float32 state [B, {}, {}, {}] ({:.2f} MiB per sequence) on {}\n\n", H, D, D,
                     H * D * D * 4.0 / (1 << 20), device.str());
  out += "| gate | B | torch step us | CUDA kernel us | kernel state GB/s (read + write) |\n|---|---|---|---|---|\n";
  auto opts = at::TensorOptions().device(device).dtype(at::kFloat);
  for (bool diagonal : {false, true})
    for (int64_t B : o.decode_batches) {
      ops::AffineStepArgs a{at::randn({B, H, D}, opts), at::randn({B, H, D}, opts), at::randn({B, H, D}, opts),
                            diagonal ? at::log_sigmoid(at::randn({B, H, D}, opts)) : at::log_sigmoid(at::randn({B, H}, opts))};
      at::Tensor h = at::zeros({B, H, D, D}, opts);
      const double torch_us = 1e3 * median_ms(o.repeats, device, [&] { (void)ops::affine_scan_step_torch(a, h); });
      std::string kernel = "-", bandwidth = "-";
      h = at::zeros({B, H, D, D}, opts);
      if (ops::affine_scan_step_cuda_supports(a, h)) {
        at::Tensor y = at::empty({B, H, D}, opts);
        const double us = 1e3 * median_ms(o.repeats, device, [&] { ops::affine_scan_step_cuda(a, h, y); });
        kernel = fmt::format("{:.1f}", us);
        bandwidth = fmt::format("{:.0f}", 2.0 * h.numel() * 4 / (us * 1e-6) / 1e9);
      }
      out += fmt::format("| {} | {} | {:.1f} | {} | {} |\n", diagonal ? "diagonal" : "scalar", B, torch_us, kernel,
                         bandwidth);
    }
  return out;
}

}  // namespace scanlab::bench
