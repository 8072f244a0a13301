// `scanlab bench scan|decode|train-step|ops|serve`: benchmarks that print figures (see bench/README.md).
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "core/text.h"
#include "decode_bench.h"
#include "ops_bench.h"
#include "scan_bench.h"
#ifdef SCANLAB_WITH_SERVE
#include "serve_bench.h"
#endif
#include "train_step_bench.h"

namespace scanlab::cli {

void register_bench(CLI::App& root, GlobalContext& ctx) {
  auto* bench = root.add_subcommand("bench", "Benchmarks that print figures");
  bench->require_subcommand(1);
  auto opts = std::make_shared<bench::ScanBenchOptions>();
  auto* scan = bench->add_subcommand("scan", "Parallel scan vs online scanner vs sequential reference");
  scan->add_option("--lengths", opts->lengths, "sequence lengths N")->delimiter(',')->capture_default_str();
  scan->add_option("--batch", opts->batch, "batch size")->capture_default_str()->check(CLI::PositiveNumber);
  scan->add_option("--dim", opts->dim, "state width")->capture_default_str()->check(CLI::PositiveNumber);
  scan->add_option("-r,--repeats", opts->repeats, "timed runs per cell")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  scan->add_option("-o,--format", opts->format, "md or json")
      ->capture_default_str()
      ->check(CLI::IsMember({"md", "json"}));
  scan->callback([opts, &ctx] {
    const auto device = apply_runtime(ctx.runtime);
    std::cout << bench::format_scan_bench(bench::run_scan_bench(*opts, device), *opts, device.str());
  });

  auto dec = std::make_shared<bench::DecodeBenchOptions>();
  auto* decode = bench->add_subcommand("decode", "Per-token latency and state bytes vs token index, per model");
  decode->add_option("--models", dec->models, "registered model names")->delimiter(',')->capture_default_str();
  decode->add_option("--tokens", dec->tokens, "decode steps per model")
      ->capture_default_str()
      ->check(CLI::Range(16, 10000000));
  decode->add_option("--width", dec->width, "model width")->capture_default_str()->check(CLI::PositiveNumber);
  decode->add_option("--depth", dec->depth, "layers (T-PSM: Agg and Inf layers each)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  decode->add_option("--chunk", dec->chunk, "Transformer-PSM chunk size")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  decode->add_option("--window", dec->window, "sliding-window size")->capture_default_str()->check(CLI::PositiveNumber);
  decode->add_option("--batch", dec->batch, "sequences per step")->capture_default_str()->check(CLI::PositiveNumber);
  decode->add_option("--dtype", dec->dtype, "float32 or bfloat16")
      ->capture_default_str()
      ->check(CLI::IsMember({"float32", "bfloat16"}));
  decode->add_flag("--cuda-graphs,!--no-cuda-graphs", dec->cuda_graphs,
                   "replay each step as a CUDA graph where the model allows (on by default; CUDA only)");
  decode->add_flag(
      "--boundary-overlap,!--no-boundary-overlap", dec->boundary_overlap,
      "run a T-PSM's chunk-boundary Agg work on a second CUDA stream, overlapping the step (on by default)");
  decode->add_option("--csv", dec->csv, "write every step's latency and state bytes here");
  decode->add_option("--plot-dir", dec->plot_dir, "write decode_latency.svg, decode_state.svg and decode.json here");
  decode->add_option("-o,--format", dec->format, "md or json")
      ->capture_default_str()
      ->check(CLI::IsMember({"md", "json"}));
  decode->callback([dec, &ctx] {
    const auto device = apply_runtime(ctx.runtime);
    const auto rows = bench::run_decode_bench(*dec, device);
    std::cout << bench::format_decode_bench(rows, *dec, device.str());
    if (!dec->plot_dir.empty())
      for (const auto& path : bench::write_decode_plots(rows, *dec, dec->plot_dir, device.str()))
        std::cerr << "  written: " << path << "\n";
  });

  auto tr = std::make_shared<bench::TrainStepBenchOptions>();
  auto* train = bench->add_subcommand("train-step", "Forward + backward time of one training batch, per model");
  train->add_option("--models", tr->models, "registered model names")->delimiter(',')->capture_default_str();
  train->add_option("--lengths", tr->lengths, "sequence lengths T")->delimiter(',')->capture_default_str();
  train->add_option("--batch", tr->batch, "sequences per batch")->capture_default_str()->check(CLI::PositiveNumber);
  train->add_option("--width", tr->width, "model width")->capture_default_str()->check(CLI::PositiveNumber);
  train->add_option("--depth", tr->depth, "layers (T-PSM: Agg and Inf layers each)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  train->add_option("--chunk", tr->chunk, "T-PSM chunk size and affine-scan chunk length")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  train->add_option("--vocab", tr->vocab, "vocabulary size (GPT-2's is 50257)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  train->add_option("--heads", tr->heads, "heads per layer; 0: width / head-dim")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  train->add_option("--head-dim", tr->head_dim, "head width when --heads is 0")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  train->add_option("--state-size", tr->state_size, "d_state of Mamba and Mamba2")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  train->add_option("--dtype", tr->dtype, "float32, or bfloat16 (CUDA autocast, as train.bf16)")->capture_default_str();
  train
      ->add_option("--paths", tr->paths,
                   "auto (fused chunked kernels where they apply, as train runs), torch; both for a side-by-side")
      ->delimiter(',')
      ->capture_default_str();
  train->add_flag("--checkpoint-agg", tr->checkpoint_agg,
                  "Transformer-PSM: recompute each Agg level's activations in the backward (activation checkpointing)");
  train->add_option("-r,--repeats", tr->repeats, "timed runs per cell")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  train->add_option("-o,--format", tr->format, "md or json")
      ->capture_default_str()
      ->check(CLI::IsMember({"md", "json"}));
  train->callback([tr, &ctx] {
    const auto device = apply_runtime(ctx.runtime);
    std::cout << bench::format_train_step_bench(bench::run_train_step_bench(*tr, device), *tr, device.str());
  });

  auto op = std::make_shared<bench::OpsBenchOptions>();
  auto* ops = bench->add_subcommand(
      "ops", "Chunked linear-recurrence ops at the S1 shapes: ms, TFLOP/s, GB/s vs the HBM floor");
  ops->add_option("--ops", op->ops, "ops (default: all of " + join(bench::ops_bench_op_names()) + ")")->delimiter(',');
  ops->add_option("--lengths", op->lengths, "sequence lengths T")->delimiter(',')->capture_default_str();
  ops->add_option("--tokens", op->tokens, "tokens per call B·T (B = tokens / T)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  ops->add_option("--heads", op->heads, "heads H, paired with --dim")->delimiter(',')->capture_default_str();
  ops->add_option("--dim", op->dims, "head dims d = K = V, paired with --heads")->delimiter(',')->capture_default_str();
  ops->add_option("--chunk", op->chunk, "chunk length C")->capture_default_str()->check(CLI::PositiveNumber);
  ops->add_option("--dtype", op->dtype, "float32 or bfloat16 inputs (default: bfloat16 on CUDA, float32 on the CPU)");
  ops->add_option("--pass", op->passes, "fwd, fwdbwd")->delimiter(',')->capture_default_str();
  ops->add_option(
         "--paths", op->paths,
         "auto (fused CUDA kernels where they take the arguments), torch (the batched torch form), recurrence "
         "(delta rules only: the kernel of the state recurrence over chunks, the rest torch ops), tf32-walk / "
         "float32-walk "
         "(delta rules only: the fused kernels with the recurrence walks allowed TF32 tensor cores where faster, "
         "the default, or kept in float32 FMA); several for a side-by-side")
      ->delimiter(',')
      ->capture_default_str();
  ops->add_option("--state-segments", op->state_segments,
                  "fused kernels: runs of the state passes over the sequence; 0: the device's choice, 1: one walk")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  ops->add_flag(
      "--varlen", op->varlen,
      "packed variable-length calls (cu_seqlens): B sequences of mean length T, lengths drawn from [T/2, 3T/2] "
      "summing to --tokens");
  ops->add_option("-r,--repeats", op->repeats, "timed runs per cell (median)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  ops->add_option("--hbm-gbps", op->hbm_gbps, "HBM bandwidth of the floor (default: the H200's measured copy rate)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  ops->add_option("-o,--format", op->format, "md or json")->capture_default_str()->check(CLI::IsMember({"md", "json"}));
  ops->add_option("--dump", op->dump_dir, "write each op's inputs, o, final state and gradients as safetensors here");
  ops->callback([op, &ctx] {
    const auto device = apply_runtime(ctx.runtime);
    std::cout << bench::format_ops_bench(bench::run_ops_bench(*op, device), *op, device);
  });

#ifdef SCANLAB_WITH_SERVE
  auto sv = std::make_shared<bench::ServeBenchOptions>();
  auto* serve = bench->add_subcommand(
      "serve", "In-process scanlab serve under C concurrent clients: tokens/s, request and token latency");
  serve->add_option("--model", sv->model, "registered model name")->capture_default_str();
  serve->add_option("--clients", sv->clients, "concurrent clients, one row each")
      ->delimiter(',')
      ->capture_default_str();
  serve->add_option("--requests", sv->requests, "requests per client")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  serve->add_option("--prompt-tokens", sv->prompt_tokens, "prompt length")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  serve->add_option("--tokens", sv->tokens, "tokens generated per request")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  serve->add_option("--width", sv->width, "model width")->capture_default_str()->check(CLI::PositiveNumber);
  serve->add_option("--depth", sv->depth, "layers")->capture_default_str()->check(CLI::PositiveNumber);
  serve->add_option("-o,--format", sv->format, "md or json")
      ->capture_default_str()
      ->check(CLI::IsMember({"md", "json"}));
  serve->callback([sv, &ctx] {
    const auto device = apply_runtime(ctx.runtime);
    std::cout << bench::format_serve_bench(bench::run_serve_bench(*sv, device), *sv, device.str());
  });
#endif
}

}  // namespace scanlab::cli
