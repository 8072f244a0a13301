// Which path affine_scan_chunked takes for each kind of argument (affine_scan_chunked_path), and that
// the dispatcher follows it: its outputs are bit for bit those of the function the path names. On
// the CPU: identity and scalar gates, and diagonal gates with V >= kTokenLoopMaxValueDim, take the
// chunked torch form; diagonal gates with V = 1 the fused scan; diagonal gates with 1 < V < 8 the
// token loop. On a GPU (skipped without one): the float32-only V = 1 scan, and the fused chunked
// kernels (sm_80+) under set_fused_chunked_kernels.
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <string>

#include "core/check.h"
#include "ops/affine_scan/affine_scan.h"
#include "ops/affine_scan/diagonal_scan.h"
#include "ops/fused_step.h"
#include "support/op_test_util.h"

namespace scanlab::ops {
namespace {

using Path = AffineScanChunkedPath;
using scanlab::testing::Rng;

enum class Gate { Identity, Scalar, Diagonal };

// q, k [1, T, 2, K], v [1, T, 2, V] and the gate, float64 on the CPU, then cast and moved.
AffineScanArgs make_args(Gate gate, int64_t K, int64_t V, at::ScalarType dtype = at::kDouble,
                         at::Device device = at::kCPU) {
  Rng rng(11);
  const int64_t T = 21;
  AffineScanArgs a;
  a.q = rng.randn({1, T, 2, K}).to(device, dtype);
  a.k = rng.randn({1, T, 2, K}).to(device, dtype);
  a.v = rng.randn({1, T, 2, V}).to(device, dtype);
  if (gate == Gate::Scalar) a.log_a = rng.log_gate({1, T, 2}, 2.0).to(device, dtype);
  if (gate == Gate::Diagonal) a.log_a = rng.log_gate({1, T, 2, K}, 2.0).to(device, dtype);
  a.chunk_len = 8;
  return a;
}

// For failure messages, in the enum's order.
std::string name(Path p) {
  const char* names[] = {"ChunkedCuda", "ChunkedVectorGateCuda", "DiagonalSingleValue", "TokenLoop", "ChunkedTorch"};
  return names[static_cast<int>(p)];
}

using PathFunction = AffineScanOut (*)(const AffineScanArgs&);

// affine_scan_chunked_path(a) is `expected`, and affine_scan_chunked(a) returns, bit for bit, what
// that path's own function returns.
void expect_path(const std::string& what, const AffineScanArgs& a, Path expected, PathFunction run) {
  EXPECT_EQ(name(affine_scan_chunked_path(a)), name(expected)) << what;
  const AffineScanOut routed = affine_scan_chunked(a), direct = run(a);
  EXPECT_TRUE(at::equal(routed.o, direct.o)) << what << ": affine_scan_chunked's o differs from " << name(expected);
  EXPECT_TRUE(at::equal(routed.h_final, direct.h_final)) << what << ": h_final differs from " << name(expected);
}

const PathFunction kChunkedTorch = affine_scan_chunked_torch;
const PathFunction kTokenLoop = affine_scan_ref;
const PathFunction kSingleValue = affine_scan_diagonal_single_value;

TEST(AffineScanChunkedPath, IdentityAndScalarGatesTakeTheChunkedFormAtAnyValueDim) {
  for (int64_t V : {1, 3, 16}) {
    expect_path("identity V " + std::to_string(V), make_args(Gate::Identity, 4, V), Path::ChunkedTorch, kChunkedTorch);
    expect_path("scalar V " + std::to_string(V), make_args(Gate::Scalar, 4, V), Path::ChunkedTorch, kChunkedTorch);
  }
}

TEST(AffineScanChunkedPath, DiagonalGatesWithOneValueTakeTheFusedScan) {
  expect_path("diagonal V 1 float64", make_args(Gate::Diagonal, 5, 1), Path::DiagonalSingleValue, kSingleValue);
  expect_path("diagonal V 1 float32", make_args(Gate::Diagonal, 5, 1, at::kFloat), Path::DiagonalSingleValue,
              kSingleValue);
}

TEST(AffineScanChunkedPath, DiagonalGatesWithNarrowValuesTakeTheTokenLoop) {
  for (int64_t V = 2; V < kTokenLoopMaxValueDim; ++V)
    expect_path("diagonal V " + std::to_string(V), make_args(Gate::Diagonal, 5, V), Path::TokenLoop, kTokenLoop);
  expect_path("diagonal V 8", make_args(Gate::Diagonal, 5, kTokenLoopMaxValueDim), Path::ChunkedTorch, kChunkedTorch);
}

TEST(AffineScanChunkedPath, ChecksItsArgumentsLikeTheDispatcher) {
  AffineScanArgs a = make_args(Gate::Diagonal, 5, 1);
  a.v = a.v.squeeze(-1);  // [B, T, H]: not a value tensor
  EXPECT_THROW(affine_scan_chunked_path(a), scanlab::Error);
  EXPECT_THROW(affine_scan_chunked(a), scanlab::Error);
}

TEST(AffineScanChunkedPathCuda, TheFusedScanIsFloat32AndTheKernelsFollowTheSwitch) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const at::Device gpu(at::kCUDA);
  // The V = 1 kernel is float32: a float64 model on the GPU keeps the token loop.
  expect_path("diagonal V 1 float64 on CUDA", make_args(Gate::Diagonal, 5, 1, at::kDouble, gpu), Path::TokenLoop,
              kTokenLoop);
  expect_path("diagonal V 1 float32 on CUDA", make_args(Gate::Diagonal, 5, 1, at::kFloat, gpu),
              kCudaBuild ? Path::DiagonalSingleValue : Path::TokenLoop, kCudaBuild ? kSingleValue : kTokenLoop);

  const AffineScanArgs scalar = make_args(Gate::Scalar, 64, 64, at::kBFloat16, gpu);
  AffineScanArgs vector = make_args(Gate::Diagonal, 64, 64, at::kBFloat16, gpu);
  vector.log_a = vector.log_a.to(at::kFloat);
  const bool was_on = fused_chunked_kernels();
  set_fused_chunked_kernels(true);
  if (affine_scan_chunked_cuda_supports(scalar)) {  // sm_80+ in a CUDA build
    EXPECT_EQ(name(affine_scan_chunked_path(scalar)), name(Path::ChunkedCuda));
    EXPECT_EQ(name(affine_scan_chunked_path(vector)), name(Path::ChunkedVectorGateCuda));
  }
  set_fused_chunked_kernels(false);
  EXPECT_EQ(name(affine_scan_chunked_path(scalar)), name(Path::ChunkedTorch));
  EXPECT_EQ(name(affine_scan_chunked_path(vector)), name(Path::ChunkedTorch));
  set_fused_chunked_kernels(was_on);
}

}  // namespace
}  // namespace scanlab::ops
