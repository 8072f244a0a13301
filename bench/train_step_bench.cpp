#include "train_step_bench.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>

#include "core/check.h"
#include "core/memory.h"
#include "core/torch_compat.h"
#include "device_memory.h"
#include "flops.h"
#include "models/model_size.h"
#include "ops/affine_scan/affine_scan.h"
#include "timing.h"

namespace scanlab::bench {

models::ModelSize TrainStepBenchOptions::size(int64_t seq_len) const {
  models::ModelSize s;
  s.width = width;
  s.depth = depth;
  s.heads = heads;
  s.head_dim = head_dim;
  s.state_size = state_size;
  s.chunk = chunk;
  s.vocab = vocab;
  s.window = seq_len;
  s.max_positions = std::max(seq_len, chunk);  // training runs use global positions
  s.chunk_local_positions = false;
  return s;
}

std::vector<TrainStepBenchRow> run_train_step_bench(const TrainStepBenchOptions& o, at::Device device) {
  SCANLAB_CHECK(o.batch >= 1 && o.width >= 1 && o.depth >= 1 && o.chunk >= 1 && o.repeats >= 1 && o.vocab >= 1,
                "bench train-step: --batch, --width, --depth, --chunk, --vocab and --repeats must be positive");
  SCANLAB_CHECK(o.heads >= 0 && o.head_dim >= 1 && o.state_size >= 1,
                "bench train-step: --heads must be >= 0 (0: width / head-dim), --head-dim and --state-size >= 1");
  SCANLAB_CHECK(!o.lengths.empty(), "bench train-step: --lengths is empty; expected e.g. 128,256,512");
  for (int64_t t : o.lengths) SCANLAB_CHECK(t >= 1, "bench train-step: length ", t, " must be >= 1");
  SCANLAB_CHECK(o.format == "md" || o.format == "json", "--format '", o.format, "': expected md or json");
  SCANLAB_CHECK(o.dtype == "float32" || o.dtype == "bfloat16", "bench train-step: --dtype '", o.dtype,
                "': expected float32 or bfloat16");
  SCANLAB_CHECK(o.dtype == "float32" || device.is_cuda(), "bench train-step: --dtype bfloat16 is CUDA autocast (as ",
                "the trainer's train.bf16) and needs --device cuda; on ", device.str(), " use --dtype float32");
  SCANLAB_CHECK(!o.paths.empty(), "bench train-step: --paths must not be empty");
  for (const auto& p : o.paths)
    SCANLAB_CHECK(p == "auto" || p == "torch", "bench train-step: --paths '", p, "': expected auto or torch");
  const bool bf16 = o.dtype == "bfloat16";
  std::vector<TrainStepBenchRow> rows;
  struct RestoreFused {  // the switch is process-wide: leave it as found
    bool was = ops::fused_chunked_kernels();
    ~RestoreFused() { ops::set_fused_chunked_kernels(was); }
  } restore;
  for (const auto& name : o.models) {
    for (int64_t t : o.lengths) {
      for (const auto& path : o.paths) {
        ops::set_fused_chunked_kernels(path == "auto");
        nlohmann::json config = models::find_model(name).sized_config(o.size(t));
        const bool checkpoint = o.checkpoint_agg && name == "transformer_psm";
        if (checkpoint) config["checkpoint_agg"] = true;
        check_fits_in_memory(models::training_bytes(config, static_cast<double>(o.batch), static_cast<double>(t)),
                             device,
                             fmt::format("bench train-step: {} at --width {}, --depth {}, --batch {}, length {}{}",
                                         name, o.width, o.depth, o.batch, t, checkpoint ? ", --checkpoint-agg" : ""));
        reset_peak_memory(device);
        auto model = models::make_model(config);
        model->to(device);
        model->train();
        TrainStepBenchRow row;
        row.model = name;
        row.path = checkpoint ? path + ", checkpoint_agg" : path;
        row.seq_len = t;
        for (const auto& p : model->parameters()) row.parameters += p.numel();
        row.flops = model_train_flops(model->config(), o.batch, t);
        const at::Tensor tokens = at::randint(0, o.vocab, {o.batch, t + 1}, at::kLong).to(device);
        const at::Tensor input = tokens.slice(1, 0, t), target = tokens.slice(1, 1);
        auto loss_of = [&] {
          CudaBf16Autocast autocast(bf16);  // forward and loss, as the trainer; backward outside
          return at::cross_entropy_loss(model->forward(input).reshape({-1, o.vocab}).to(at::kFloat),
                                        target.reshape(-1));
        };
        row.forward_ms = median_ms(o.repeats, device, [&] {
          at::NoGradGuard no_grad;
          loss_of();
        });
        row.step_ms = median_ms(o.repeats, device, [&] {
          model->zero_grad();
          loss_of().backward();
        });
        row.peak_bytes = peak_memory_bytes(device);
        rows.push_back(row);
      }
    }
  }
  return rows;
}

namespace {

double tokens_per_s(const TrainStepBenchRow& r, int64_t batch) {
  return 1000.0 * static_cast<double>(batch * r.seq_len) / r.step_ms;
}
double tflops(const TrainStepBenchRow& r) { return r.flops / (r.step_ms * 1e-3) / 1e12; }

}  // namespace

std::string format_train_step_bench(const std::vector<TrainStepBenchRow>& rows, const TrainStepBenchOptions& o,
                                    const std::string& device_name) {
  const std::string heads = o.heads > 0 ? std::to_string(o.heads) : fmt::format("width/{}", o.head_dim);
  // json: "heads" 0 means width / head_dim (registry.h ModelSize::heads_for), as the flag does
  if (o.format == "json") {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& r : rows)
      j.push_back({{"model", r.model},
                   {"path", r.path},
                   {"seq_len", r.seq_len},
                   {"parameters", r.parameters},
                   {"forward_ms", r.forward_ms},
                   {"step_ms", r.step_ms},
                   {"tokens_per_s", tokens_per_s(r, o.batch)},
                   {"flops_per_step", r.flops},
                   {"tflops", tflops(r)},
                   {"peak_bytes", r.peak_bytes >= 0 ? nlohmann::json(r.peak_bytes) : nlohmann::json(nullptr)},
                   {"batch", o.batch},
                   {"width", o.width},
                   {"depth", o.depth},
                   {"heads", o.heads},
                   {"head_dim", o.head_dim},
                   {"chunk", o.chunk},
                   {"vocab", o.vocab},
                   {"state_size", o.state_size},
                   {"dtype", o.dtype},
                   {"device", device_name}});
    return j.dump(2) + "\n";
  }
  std::string s = fmt::format(
      "Training step (forward + cross-entropy + backward), batch {}, width {}, depth {}, heads {}, chunk {}, "
      "vocab {}, d_state {}, {}, device {}, median of {}; model TFLOP/s = model FLOPs per step (bench/README.md) "
      "/ step time; path: chunked ops through their fused kernels where they apply (auto) or the torch form, and "
      "\", checkpoint_agg\" where the T-PSM recomputes its Agg levels in the backward; peak MiB: allocated bytes "
      "(CUDA: the caching allocator's peak; CPU: the CPU allocator's peak above the cell's start)\n\n"
      "| model | path | T | params | forward ms | step ms | tokens / s | peak MiB | model TFLOP/s |\n"
      "|---|---|---:|---:|---:|---:|---:|---:|---:|\n",
      o.batch, o.width, o.depth, heads, o.chunk, o.vocab, o.state_size, o.dtype, device_name, o.repeats);
  for (const auto& r : rows)
    s += fmt::format("| {} | {} | {} | {} | {:.2f} | {:.2f} | {:.0f} | {} | {:.3g} |\n", r.model, r.path, r.seq_len,
                     r.parameters, r.forward_ms, r.step_ms, tokens_per_s(r, o.batch),
                     r.peak_bytes >= 0 ? fmt::format("{:.0f}", r.peak_bytes / 1048576.0) : std::string("-"), tflops(r));
  return s;
}

}  // namespace scanlab::bench
