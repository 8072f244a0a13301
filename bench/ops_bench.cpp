#include "ops_bench.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <iostream>
#include <optional>
#include <random>
#include <utility>

#include "core/check.h"
#include "flops.h"
#include "io/safetensors.h"
#include "ops/affine_scan/affine_scan.h"
#include "ops/delta_rule/delta_rule.h"
#include "ops/registry.h"
#include "timing.h"

namespace scanlab::bench {
namespace {

using Named = ops::NamedTensors;

// The op called `name` in the registry; the error names the command and every known op.
const ops::OpEntry& find_op(const std::string& name) {
  try {
    return ops::find_op(name);
  } catch (const Error& e) {
    SCANLAB_FAIL("bench ops: ", e.what());
  }
}

// One op call: leaf inputs (q, k, v first, then gates / beta) and the call, which returns o first,
// then the final state's tensors.
struct OpCall {
  Named inputs;
  std::function<Named(const Named&)> run;
  bool fused = false;           // whether run takes fused CUDA kernels
  std::string label = "torch";  // the row's path: fused, recurrence (the delta rules' recurrence kernel alone) or torch
};

// Turns the process-wide fused-kernel switch off for a scope (the delta rules' recurrence path).
struct FusedOff {
  bool was = ops::fused_chunked_kernels();
  FusedOff() { ops::set_fused_chunked_kernels(false); }
  ~FusedOff() { ops::set_fused_chunked_kernels(was); }
};

// Sets whether the delta rules' recurrence walks may take TF32 tensor cores, for a scope (paths
// "tf32-walk" and "float32-walk").
struct WalkTf32 {
  bool was = ops::delta_walk_tf32();
  explicit WalkTf32(bool on) { ops::set_delta_walk_tf32(on); }
  ~WalkTf32() { ops::set_delta_walk_tf32(was); }
};

// `path` "torch" forces the device-generic torch form where an op also has fused kernels; "recurrence"
// runs the delta rules with only their state recurrence as a kernel (the fused kernels turned off);
// "tf32-walk" and "float32-walk" run the delta rules' fused kernels with their walks allowed TF32
// tensor cores (the default, taken where the launcher finds them faster) or kept in float32 FMA;
// `state_segments` > 0 forces that many runs of the fused kernels' state passes. A defined `cu_seqlens`
// makes the call a packed varlen one (B = 1, T = total; the *_varlen entry points, path auto).
OpCall make_call(const ops::OpEntry& op, int64_t B, int64_t T, int64_t H, int64_t D, int64_t C, at::ScalarType dtype,
                 at::Device device, bool grad, const std::string& path = "auto", int state_segments = 0,
                 const at::Tensor& cu_seqlens = {}) {
  const bool torch_path = path == "torch", recurrence = path == "recurrence";
  const bool walk_forced = path == "tf32-walk" || path == "float32-walk";
  // The registry's default draw (q·0.1, unit-norm keys, log-sigmoid gates near 1, sigmoid beta), in
  // float32 on the device, cast to `dtype`.
  ops::OpDraw draw;
  draw.dtype = dtype;
  draw.device = device;
  OpCall c;
  const ops::OpArgs args = op.make_args({B, T, H, D, D, C}, draw);
  for (const auto& [name, t] : args.inputs) c.inputs.push_back({name, t.detach().requires_grad_(grad)});
  c.run = [=, &op](const Named& x) {
    const ops::OpArgs a{x, {}, C};
    if (cu_seqlens.defined()) return op.varlen(a, cu_seqlens).all();
    if (torch_path) return op.chunked_torch(a).all();
    std::optional<FusedOff> off;
    if (recurrence) off.emplace();
    std::optional<WalkTf32> walk;
    if (walk_forced) walk.emplace(path == "tf32-walk");
    if (state_segments > 0 && op.chunked_segments) return op.chunked_segments(a, state_segments).all();
    return op.chunked(a).all();
  };
  c.label = torch_path ? "torch" : op.route(ops::OpArgs{c.inputs, {}, C}, !recurrence);
  c.fused = c.label != "torch";
  if (walk_forced)
    c.label = op.name.find("delta_rule") != std::string::npos && c.label == "fused"
                  ? (path == "tf32-walk" ? "fused, tf32 walk" : "fused, float32 walk")
                  : "-";
  if (cu_seqlens.defined()) c.label += ", varlen";
  return c;
}

double bytes_of(const at::Tensor& t) {
  return t.defined() ? static_cast<double>(t.numel()) * static_cast<double>(t.element_size()) : 0.0;
}

// Forward: inputs read once, o and the final state written once. Backward adds the inputs read
// again, dO read and one gradient per input written (bench/README.md, "fused minimum").
double min_bytes(const Named& inputs, const Named& outputs, bool backward) {
  double in = 0, out = 0;
  for (const auto& [name, t] : inputs) in += bytes_of(t);
  for (const auto& [name, t] : outputs) out += bytes_of(t);
  return backward ? 3 * in + out + bytes_of(outputs.front().second) : in + out;
}

void clear_grads(const Named& inputs) {
  for (const auto& [name, t] : inputs) t.mutable_grad() = at::Tensor();
}

void dump_case(const std::string& dir, const std::string& op, const OpCall& call, int64_t B, int64_t T, int64_t H,
               int64_t D, int64_t C, const std::string& dtype) {
  const Named outputs = call.run(call.inputs);
  const at::Tensor d_o = at::randn_like(outputs.front().second);
  outputs.front().second.backward(d_o);
  io::Safetensors st;
  for (const auto& [name, t] : call.inputs) {
    st.tensors[name] = t.detach();
    SCANLAB_CHECK(t.grad().defined(), "bench ops --dump: ", op, " left no gradient for ", name);
    st.tensors["d" + name] = t.grad();
  }
  for (const auto& [name, t] : outputs) st.tensors[name] = t.detach();
  st.tensors["do"] = d_o;
  st.metadata = {{"op", op},
                 {"T", std::to_string(T)},
                 {"B", std::to_string(B)},
                 {"H", std::to_string(H)},
                 {"d", std::to_string(D)},
                 {"chunk", std::to_string(C)},
                 {"dtype", dtype},
                 {"layout",
                  "q, k [B, T, H, K]; v, o [B, T, H, V]; gates and beta [B, T, H] (gla: [B, T, H, K]); "
                  "h_final [B, H, K, V]; q unscaled; gates are log-space; grads d<name> from upstream do"}};
  const std::string path = fmt::format("{}/{}_T{}_B{}_H{}_d{}.safetensors", dir, op, T, B, H, D);
  io::save_safetensors(path, st);
  std::cerr << "  dump written: " << path << "\n";
  clear_grads(call.inputs);
}

}  // namespace

std::vector<std::string> ops_bench_op_names() { return ops::op_names(); }

std::vector<int64_t> varlen_bench_lengths(int64_t tokens, int64_t mean_len, uint64_t seed) {
  SCANLAB_CHECK(mean_len >= 1 && tokens >= mean_len && tokens % mean_len == 0, "bench ops --varlen: --tokens ", tokens,
                " must be a positive multiple of the mean length ", mean_len);
  std::mt19937_64 gen(seed);
  const int64_t lo = std::max<int64_t>(1, mean_len / 2), hi = std::max(lo, mean_len + mean_len / 2);
  std::uniform_int_distribution<int64_t> draw(lo, hi);
  std::vector<int64_t> lengths(static_cast<size_t>(tokens / mean_len));
  int64_t sum = 0;
  for (auto& L : lengths) sum += (L = draw(gen));
  // One token at a time, round robin, until the lengths sum to `tokens` (each stays >= 1; tokens >= S).
  for (size_t i = 0; sum != tokens; i = (i + 1) % lengths.size()) {
    if (sum < tokens) {
      ++lengths[i];
      ++sum;
    } else if (lengths[i] > 1) {
      --lengths[i];
      --sum;
    }
  }
  return lengths;
}

std::string ops_bench_dtype(const OpsBenchOptions& o, at::Device device) {
  if (!o.dtype.empty()) return o.dtype;
  return device.is_cuda() ? "bfloat16" : "float32";
}

std::vector<OpsBenchRow> run_ops_bench(const OpsBenchOptions& o, at::Device device) {
  const std::vector<std::string> names = o.ops.empty() ? ops_bench_op_names() : o.ops;
  for (const auto& name : names) find_op(name);  // every name checked before any timing
  const std::string dtype_name = ops_bench_dtype(o, device);
  SCANLAB_CHECK(dtype_name == "float32" || dtype_name == "bfloat16", "bench ops: --dtype '", dtype_name,
                "': expected float32 or bfloat16");
  SCANLAB_CHECK(o.format == "md" || o.format == "json", "bench ops: --format '", o.format, "': expected md or json");
  SCANLAB_CHECK(o.heads.size() == o.dims.size() && !o.heads.empty(), "bench ops: --heads and --dim pair up (H, d) ",
                "shapes and need the same number of entries; got ", o.heads.size(), " and ", o.dims.size());
  SCANLAB_CHECK(!o.lengths.empty() && !o.passes.empty(), "bench ops: --lengths and --pass must not be empty");
  SCANLAB_CHECK(o.chunk >= 1 && o.repeats >= 1 && o.hbm_gbps > 0,
                "bench ops: --chunk, --repeats and --hbm-gbps must be positive");
  SCANLAB_CHECK(o.state_segments >= 0, "bench ops: --state-segments ", o.state_segments, " must be >= 0");
  for (size_t i = 0; i < o.heads.size(); ++i)
    SCANLAB_CHECK(o.heads[i] >= 1 && o.dims[i] >= 1, "bench ops: heads ", o.heads[i], " and dim ", o.dims[i],
                  " must be >= 1");
  for (int64_t T : o.lengths)
    SCANLAB_CHECK(T >= 1 && o.tokens >= T && o.tokens % T == 0, "bench ops: --tokens ", o.tokens,
                  " must be a positive multiple of every length; T = ", T, " is not a divisor");
  for (const auto& p : o.passes)
    SCANLAB_CHECK(p == "fwd" || p == "fwdbwd", "bench ops: --pass '", p, "': expected fwd or fwdbwd");
  SCANLAB_CHECK(!o.paths.empty(), "bench ops: --paths must not be empty");
  SCANLAB_CHECK(!o.varlen || (o.paths == std::vector<std::string>{"auto"} && o.state_segments == 0),
                "bench ops: --varlen runs the routed entry points only; expected --paths auto and --state-segments 0");
  for (const auto& p : o.paths)
    SCANLAB_CHECK(p == "auto" || p == "torch" || p == "recurrence" || p == "tf32-walk" || p == "float32-walk",
                  "bench ops: --paths '", p, "': expected auto, torch, recurrence, tf32-walk or float32-walk");
  if (!o.dump_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(o.dump_dir, ec);
    SCANLAB_CHECK(!ec && std::filesystem::is_directory(o.dump_dir), "bench ops: --dump '", o.dump_dir,
                  "': cannot create the directory (", ec ? ec.message() : "a file has that name", ")");
  }
  const at::ScalarType dtype = dtype_name == "bfloat16" ? at::kBFloat16 : at::kFloat;
  std::vector<OpsBenchRow> rows;
  for (const auto& name : names) {
    const ops::OpEntry& op = find_op(name);
    for (size_t s = 0; s < o.heads.size(); ++s) {
      const int64_t H = o.heads[s], D = o.dims[s];
      for (int64_t T : o.lengths) {
        const int64_t B = o.tokens / T;
        // Ops (or shapes) without fused kernels run the torch form either way: one row, not two.
        const bool has_fused = make_call(op, 1, 1, H, D, o.chunk, dtype, device, false).fused;
        const bool has_recurrence =
            make_call(op, 1, 1, H, D, o.chunk, dtype, device, false, "recurrence").label == "recurrence";
        const bool has_walks = make_call(op, 1, 1, H, D, o.chunk, dtype, device, false, "tf32-walk").label != "-";
        for (const auto& path : o.paths) {
          for (const auto& pass : o.passes) {
            if (path == "torch" && !has_fused && o.paths.size() > 1) continue;
            if (path == "recurrence" && !has_recurrence) continue;
            if ((path == "tf32-walk" || path == "float32-walk") && !has_walks) continue;
            const bool backward = pass == "fwdbwd";
            at::Tensor cu;  // varlen: B sequences of mean length T packed into one [1, B·T] call
            int64_t longest = 0;
            if (o.varlen) {
              std::vector<int64_t> offsets{0};
              for (int64_t L : varlen_bench_lengths(o.tokens, T, static_cast<uint64_t>(T))) {
                offsets.push_back(offsets.back() + L);
                longest = std::max(longest, L);
              }
              cu = at::tensor(offsets, at::kLong).to(device);
            }
            const OpCall call =
                o.varlen ? make_call(op, 1, o.tokens, H, D, o.chunk, dtype, device, backward, path, 0, cu)
                         : make_call(op, B, T, H, D, o.chunk, dtype, device, backward, path, o.state_segments);
            OpsBenchRow row{name, pass, call.label, T, B, H, D, longest};
            // The first call of the cell (forward, and the backward for fwdbwd), timed on its own: a
            // kernel that compiles or autotunes on first use would show here.
            const auto t0 = std::chrono::steady_clock::now();
            const Named outputs = call.run(call.inputs);
            const at::Tensor d_o = backward ? at::randn_like(outputs.front().second) : at::Tensor();
            if (backward) outputs.front().second.backward(d_o);
            synchronize(device);
            row.first_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
            if (backward) {
              auto step = [&] {
                clear_grads(call.inputs);
                call.run(call.inputs).front().second.backward(d_o);
              };
              row.ms = median_ms(o.repeats, device, step);
            } else {
              at::NoGradGuard no_grad;
              row.ms = median_ms(o.repeats, device, [&] { call.run(call.inputs); });
            }
            row.flops = chunked_op_flops(op.kind, {B * T, T, H, D, D, o.chunk}, backward);
            row.min_bytes = min_bytes(call.inputs, outputs, backward);
            rows.push_back(row);
          }
        }
        if (!o.dump_dir.empty())
          dump_case(o.dump_dir, name, make_call(op, B, T, H, D, o.chunk, dtype, device, true), B, T, H, D, o.chunk,
                    dtype_name);
      }
    }
  }
  return rows;
}

std::string format_ops_bench(const std::vector<OpsBenchRow>& rows, const OpsBenchOptions& o, at::Device device) {
  const std::string dtype = ops_bench_dtype(o, device);
  auto tflops = [](const OpsBenchRow& r) { return r.flops / (r.ms * 1e-3) / 1e12; };
  auto gbps = [](const OpsBenchRow& r) { return r.min_bytes / (r.ms * 1e-3) / 1e9; };
  if (o.format == "json") {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& r : rows)
      j.push_back({{"op", r.op},
                   {"seq_len", r.seq_len},
                   {"batch", r.batch},
                   {"heads", r.heads},
                   {"dim", r.dim},
                   {"pass", r.pass},
                   {"path", r.path},
                   {"varlen", o.varlen},
                   {"longest", r.longest},
                   {"ms", r.ms},
                   {"first_call_ms", r.first_ms},
                   {"flops", r.flops},
                   {"tflops", tflops(r)},
                   {"min_bytes", r.min_bytes},
                   {"gbps", gbps(r)},
                   {"hbm_floor_pct", 100.0 * gbps(r) / o.hbm_gbps},
                   {"hbm_gbps", o.hbm_gbps},
                   {"chunk", o.chunk},
                   {"dtype", dtype},
                   {"device", device.str()},
                   {"state_segments", o.state_segments},
                   {"repeats", o.repeats}});
    return j.dump(2) + "\n";
  }
  std::string s = fmt::format(
      "Chunked ops, {} inputs, B·T = {} tokens, chunk {}, device {}, median of {} after warm-up. FLOPs: "
      "bench/README.md; GB/s: minimum bytes (inputs, outputs and gradients moved once) "
      "/ time; % of HBM floor: (minimum bytes / {:.0f} GB/s) / time, {:.0f} GB/s being --hbm-gbps (default: the "
      "H200's measured copy rate){}\n\n"
      "| op | T | B | H | d | pass | path | ms | first call ms | TFLOP/s | GB/s | % of HBM floor |\n"
      "|---|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---:|\n",
      dtype, o.tokens, o.chunk, device.str(), o.repeats, o.hbm_gbps, o.hbm_gbps,
      o.varlen ? ". Varlen: one packed call of B sequences, T their mean length (lengths drawn from [T/2, 3T/2]), "
                 "run as a batch padded to the longest"
               : "");
  for (const auto& r : rows)
    s += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {:.3f} | {:.3f} | {:.3g} | {:.3g} | {:.1f}% |\n", r.op,
                     r.seq_len, r.batch, r.heads, r.dim, r.pass,
                     r.longest > 0 ? fmt::format("{} (longest {})", r.path, r.longest) : r.path, r.ms, r.first_ms,
                     tflops(r), gbps(r), 100.0 * gbps(r) / o.hbm_gbps);
  return s;
}

}  // namespace scanlab::bench
