// Chunked-op benchmark (`scanlab bench ops`): every chunked linear-recurrence op (linear attention,
// scalar gate, vector gate / GLA, mLSTM, delta rule, gated delta rule) at the anchor shape S1 of
// docs/performance.md (B·T = 16,384 tokens, H x d = 16 x 128 and 32 x 64, chunk 64), forward and
// forward + backward, with TFLOP/s and bandwidth against the minimum (fused) bytes (bench/README.md).
// --dump writes each op's inputs, outputs and gradients as safetensors for cross-checks against
// other implementations (scripts/peers/fla_ops.py). Figures, not assertions.
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace scanlab::bench {

struct OpsBenchOptions {
  std::vector<std::string> ops;  // empty: every op (ops_bench_op_names())
  std::vector<int64_t> lengths{4096, 16384};
  int64_t tokens = 16384;  // B·T per call; B = tokens / T
  std::vector<int64_t> heads{16, 32};
  std::vector<int64_t> dims{128, 64};  // head dim d = K = V, paired with heads
  int64_t chunk = 64;
  std::string dtype;  // float32 | bfloat16; empty: bfloat16 on CUDA, float32 elsewhere
  std::vector<std::string> passes{"fwd", "fwdbwd"};
  // auto: the routed entry point (*_chunked: fused CUDA kernels where they take the arguments);
  // torch: the device-generic batched torch form, for a side-by-side of the two; recurrence: the
  // delta rules with only their state recurrence as a kernel (the previous fused path; other ops skip it).
  std::vector<std::string> paths{"auto"};
  // The fused kernels' state passes: 0 lets the device decide whether to split them over the
  // sequence; n > 0 forces n runs (1: one walk), for a side-by-side of the split.
  int state_segments = 0;
  // Variable-length packed batches (ops/varlen.h): each call packs --tokens tokens of sequences whose
  // lengths are drawn (seeded) from [T/2, 3T/2] and nudged to sum to --tokens, through the *_varlen
  // entry points (paths auto only). T is then the mean length and B the number of sequences.
  bool varlen = false;
  int repeats = 10;
  double hbm_gbps = 4300;     // the H200's measured device copy rate (docs/performance.md)
  std::string format = "md";  // md | json
  std::string dump_dir;       // optional: safetensors per op and shape
};

struct OpsBenchRow {
  std::string op, pass;
  std::string path;  // what ran (", varlen" appended for packed calls): fused (CUDA kernels), recurrence (the delta
                     // rules' recurrence kernel alone) or torch
  int64_t seq_len = 0, batch = 0, heads = 0, dim = 0;
  int64_t longest = 0;  // varlen: the longest sequence (the padded batch's T); 0 otherwise
  double ms = 0;
  double first_ms = 0;   // the cell's first call (forward; and backward for fwdbwd), synchronised: setup shows here
  double flops = 0;      // bench/README.md (bench/flops.h)
  double min_bytes = 0;  // inputs, outputs (and gradients) read or written once
};

std::vector<std::string> ops_bench_op_names();
// The lengths of one --varlen call: tokens / mean_len sequences, drawn from [mean_len/2, 3 mean_len/2]
// with a generator seeded by `seed`, then adjusted one token at a time to sum to `tokens` (each >= 1).
std::vector<int64_t> varlen_bench_lengths(int64_t tokens, int64_t mean_len, uint64_t seed);
std::vector<OpsBenchRow> run_ops_bench(const OpsBenchOptions& o, at::Device device);
std::string format_ops_bench(const std::vector<OpsBenchRow>& rows, const OpsBenchOptions& o, at::Device device);
// The dtype run_ops_bench uses: --dtype, or its default for the device.
std::string ops_bench_dtype(const OpsBenchOptions& o, at::Device device);

}  // namespace scanlab::bench
