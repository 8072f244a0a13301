#include "train_step_bench.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "decode_bench.h"
#include "models/registry.h"
#include "timing.h"

namespace scanlab::bench {

std::vector<TrainStepBenchRow> run_train_step_bench(const TrainStepBenchOptions& o, at::Device device) {
  SCANLAB_CHECK(o.batch >= 1 && o.width >= 1 && o.depth >= 1 && o.chunk >= 1 && o.repeats >= 1,
                "bench train-step: --batch, --width, --depth, --chunk and --repeats must be positive");
  SCANLAB_CHECK(!o.lengths.empty(), "bench train-step: --lengths is empty; expected e.g. 128,256,512");
  for (int64_t t : o.lengths) SCANLAB_CHECK(t >= 1, "bench train-step: length ", t, " must be >= 1");
  SCANLAB_CHECK(o.format == "md" || o.format == "json", "--format '", o.format, "': expected md or json");
  std::vector<TrainStepBenchRow> rows;
  for (const auto& name : o.models) {
    for (int64_t t : o.lengths) {
      DecodeBenchOptions d;
      d.width = o.width;
      d.depth = o.depth;
      d.chunk = o.chunk;
      d.vocab = o.vocab;
      d.window = t;
      d.tokens = t;
      nlohmann::json config = decode_bench_config(name, d);
      if (config.contains("chunk_len")) config["chunk_len"] = o.chunk;
      if (config.contains("position_mode")) {  // training runs use global positions
        config["position_mode"] = "global";
        config["n_positions"] = std::max(t, o.chunk);
      }
      auto model = models::make_model(config);
      model->to(device);
      model->train();
      TrainStepBenchRow row;
      row.model = name;
      row.seq_len = t;
      for (const auto& p : model->parameters()) row.parameters += p.numel();
      const at::Tensor tokens = at::randint(0, o.vocab, {o.batch, t + 1}, at::kLong).to(device);
      const at::Tensor input = tokens.slice(1, 0, t), target = tokens.slice(1, 1);
      auto loss_of = [&] {
        return at::cross_entropy_loss(model->forward(input).reshape({-1, o.vocab}), target.reshape(-1));
      };
      row.forward_ms = median_ms(o.repeats, device, [&] {
        at::NoGradGuard no_grad;
        loss_of();
      });
      row.step_ms = median_ms(o.repeats, device, [&] {
        model->zero_grad();
        loss_of().backward();
      });
      rows.push_back(row);
    }
  }
  return rows;
}

std::string format_train_step_bench(const std::vector<TrainStepBenchRow>& rows, const TrainStepBenchOptions& o,
                                    const std::string& device_name) {
  if (o.format == "json") {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& r : rows)
      j.push_back({{"model", r.model}, {"seq_len", r.seq_len}, {"parameters", r.parameters},
                   {"forward_ms", r.forward_ms}, {"step_ms", r.step_ms}, {"batch", o.batch}, {"device", device_name}});
    return j.dump(2) + "\n";
  }
  std::string s = fmt::format(
      "Training step (forward + cross-entropy + backward), batch {}, width {}, depth {}, chunk {}, device {}, "
      "median of {}\n\n| model | T | params | forward ms | step ms | tokens / s |\n|---|---:|---:|---:|---:|---:|\n",
      o.batch, o.width, o.depth, o.chunk, device_name, o.repeats);
  for (const auto& r : rows)
    s += fmt::format("| {} | {} | {} | {:.1f} | {:.1f} | {:.0f} |\n", r.model, r.seq_len, r.parameters, r.forward_ms,
                     r.step_ms, 1000.0 * static_cast<double>(o.batch * r.seq_len) / r.step_ms);
  return s;
}

}  // namespace scanlab::bench
