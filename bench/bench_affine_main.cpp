// bench_affine: affine-family op figures (chunked vs reference, decode step torch vs CUDA kernel).
#include <CLI/CLI.hpp>

#include <iostream>

#include "affine_bench.h"
#include "core/check.h"
#include "core/runtime.h"

int main(int argc, char** argv) {
  CLI::App app{"Affine-family ops: chunked vs reference, decode step torch vs CUDA kernel"};
  scanlab::RuntimeOptions rt;
  scanlab::bench::AffineBenchOptions opts;
  app.add_option("--device", rt.device, "cpu, cuda or auto")->capture_default_str();
  app.add_option("--threads", rt.threads, "CPU threads (0 = all)")->capture_default_str();
  app.add_option("--lengths", opts.lengths, "sequence lengths T")->delimiter(',')->capture_default_str();
  app.add_option("--batch", opts.batch, "batch B of the op table")->capture_default_str();
  app.add_option("--heads", opts.heads, "heads H of the op table")->capture_default_str();
  app.add_option("--dim", opts.dim, "K = V of the op table")->capture_default_str();
  app.add_option("--chunk", opts.chunk, "chunk length")->capture_default_str();
  app.add_option("--max-ref-length", opts.max_ref_length, "skip the token loop above this T")->capture_default_str();
  app.add_option("--decode-batches", opts.decode_batches, "batches of the decode table")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--decode-heads", opts.decode_heads, "heads of the decode table")->capture_default_str();
  app.add_option("--decode-dim", opts.decode_dim, "K = V of the decode table")->capture_default_str();
  app.add_option("--decode-inner", opts.decode_inner, "back-to-back steps per timed loop")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("-r,--repeats", opts.repeats, "timed runs per cell")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    std::cout << scanlab::bench::run_affine_bench(opts, scanlab::apply_runtime(rt));
  } catch (const scanlab::Error& e) {
    std::cerr << "bench_affine: error: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
