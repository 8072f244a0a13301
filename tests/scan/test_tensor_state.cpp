// Tensor states: a random non-associative MLP Agg through the parallel scan, the online scanner
// and the sequential reference; gradients; save/restore; bad input.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/cuda.h>

#include "io/safetensors.h"
#include "scan/mlp_agg.h"
#include "scan/reference.h"
#include "scan/tensor_state.h"
#include "support/error_of.h"
#include "support/expect_close.h"

namespace scanlab::scan {
namespace {

using scanlab::testing::expect_close;

std::vector<TensorState> random_states(int64_t n, int64_t batch, int64_t dim, at::ScalarType dtype, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::vector<TensorState> xs;
  for (int64_t i = 0; i < n; ++i) xs.push_back({at::randn({batch, dim}, gen, at::kDouble).to(dtype)});
  return xs;
}

// `tol` is relative to the prefix's magnitude (this MLP's prefixes reach |x| ~ 1e3 by N = 67): the
// level-batched parallel scan feeds its matmuls many pairs at once, the online and reference scans
// one, and BLAS may sum a batched product in another order, so the last bits may differ on some CPUs.
void check_duality(at::ScalarType dtype, double tol) {
  RandomMlpAgg mlp(6, 12, 3, dtype, at::kCPU);
  TensorAgg agg = [&](const TensorState& a, const TensorState& b) { return mlp(a, b); };
  for (int64_t n = 1; n <= 67; ++n) {
    auto xs = random_states(n, 3, 6, dtype, 100 + n);
    auto exclusive = tensor_blelloch_scan(xs, agg, ScanKind::Exclusive);
    auto inclusive = tensor_blelloch_scan(xs, agg, ScanKind::Inclusive);
    auto extended = xs;
    extended.push_back(xs.back());
    auto reference = dyadic_exclusive_reference(extended, batch_tensor_agg(agg));
    TensorOnlineScanner online(agg);
    ASSERT_FALSE(exclusive[0].has_value());
    for (int64_t i = 0; i < n; ++i) {
      const std::string at_i = "N=" + std::to_string(n) + " i=" + std::to_string(i);
      const double bound = tol * (1 + (*reference[i + 1])[0].abs().max().item<double>());
      if (i > 0) {
        const double exclusive_bound = tol * (1 + (*reference[i])[0].abs().max().item<double>());
        expect_close("exclusive vs reference " + at_i, (*reference[i])[0], (*exclusive[i])[0], exclusive_bound);
      }
      expect_close("inclusive vs reference " + at_i, (*reference[i + 1])[0], (*inclusive[i])[0], bound);
      online.insert(xs[i]);
      expect_close("online vs parallel " + at_i, (*inclusive[i])[0], (*online.prefix())[0], bound);
      ASSERT_EQ((*online.prefix())[0].scalar_type(), dtype);
    }
  }
}

TEST(TensorScanDuality, Float64ParallelOnlineAndReferenceAgreeTo1e12Relative) { check_duality(at::kDouble, 1e-12); }
TEST(TensorScanDuality, Float32ParallelOnlineAndReferenceAgreeTo1e5Relative) { check_duality(at::kFloat, 1e-5); }

TEST(TensorScanDuality, Bfloat16RunsAndStaysNearFloat64) {
  RandomMlpAgg mlp64(8, 16, 5, at::kDouble, at::kCPU), mlp16(8, 16, 5, at::kBFloat16, at::kCPU);
  auto xs64 = random_states(19, 2, 8, at::kDouble, 9);
  std::vector<TensorState> xs16;
  for (const auto& x : xs64) xs16.push_back({x[0].to(at::kBFloat16)});
  auto ref = tensor_blelloch_scan(
      xs64, [&](const TensorState& a, const TensorState& b) { return mlp64(a, b); }, ScanKind::Inclusive);
  auto out = tensor_blelloch_scan(
      xs16, [&](const TensorState& a, const TensorState& b) { return mlp16(a, b); }, ScanKind::Inclusive);
  for (size_t i = 0; i < xs64.size(); ++i) {
    ASSERT_EQ((*out[i])[0].scalar_type(), at::kBFloat16);
    const double scale = (*ref[i])[0].abs().max().item<double>();
    expect_close("bf16 prefix " + std::to_string(i), (*ref[i])[0], (*out[i])[0], 0.1 * (1 + scale));
  }
}

TEST(TensorScanDuality, MultiTensorStatesKeepTheirComponentsApart) {
  // (E, f) pairs of the affine recurrence s = E*s + f, elementwise: an associative two-tensor state.
  TensorAgg affine = [](const TensorState& a, const TensorState& b) {
    return TensorState{a[0] * b[0], b[1] + b[0] * a[1]};
  };
  auto gen = at::make_generator<at::CPUGeneratorImpl>(4);
  const int64_t n = 29;
  std::vector<TensorState> xs;
  for (int64_t i = 0; i < n; ++i)
    xs.push_back({at::rand({2, 5}, gen, at::kDouble), at::randn({2, 5}, gen, at::kDouble)});
  auto inclusive = tensor_blelloch_scan(xs, affine, ScanKind::Inclusive);
  at::Tensor s = at::zeros({2, 5}, at::kDouble);
  for (int64_t i = 0; i < n; ++i) {
    s = xs[i][0] * s + xs[i][1];
    expect_close("affine state " + std::to_string(i), s, (*inclusive[i])[1], 1e-12);
  }
}

// Central differences against autograd through the parallel scan, for inputs and Agg weights.
TEST(TensorScanGradients, ParallelScanPassesAFiniteDifferenceGradcheck) {
  RandomMlpAgg mlp(3, 5, 11, at::kDouble, at::kCPU);
  mlp.set_requires_grad(true);
  TensorAgg agg = [&](const TensorState& a, const TensorState& b) { return mlp(a, b); };
  const int64_t n = 7;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(21);
  at::Tensor x = at::randn({n, 2, 3}, gen, at::kDouble).requires_grad_(true);
  at::Tensor probe = at::randn({n, 2, 3}, gen, at::kDouble);
  auto loss_of = [&](const at::Tensor& input) {
    std::vector<TensorState> xs;
    for (int64_t i = 0; i < n; ++i) xs.push_back({input[i]});
    auto out = tensor_blelloch_scan(xs, agg, ScanKind::Inclusive);
    at::Tensor total = at::zeros({}, at::kDouble);
    for (int64_t i = 0; i < n; ++i) total = total + ((*out[i])[0] * probe[i]).sum();
    return total;
  };
  at::Tensor loss = loss_of(x);
  auto params = mlp.parameters();
  std::vector<at::Tensor> inputs{x};
  inputs.insert(inputs.end(), params.begin(), params.end());
  auto grads = torch::autograd::grad({loss}, inputs);
  const double eps = 1e-6;
  at::NoGradGuard no_grad;
  for (size_t k = 0; k < inputs.size(); ++k) {
    at::Tensor flat = inputs[k].view({-1});
    at::Tensor g = grads[k].reshape({-1});
    ASSERT_GT(g.abs().max().item<double>(), 0.0) << "input " << k << " gets no gradient";
    for (int64_t j = 0; j < flat.numel(); j += std::max<int64_t>(1, flat.numel() / 12)) {
      const double orig = flat[j].item<double>();
      flat[j].fill_(orig + eps);
      const double up = loss_of(x).item<double>();
      flat[j].fill_(orig - eps);
      const double down = loss_of(x).item<double>();
      flat[j].fill_(orig);
      const double numeric = (up - down) / (2 * eps);
      EXPECT_NEAR(g[j].item<double>(), numeric, 1e-6 * (1 + std::abs(numeric))) << "input " << k << " element " << j;
    }
  }
}

TEST(TensorOnlineScannerState, SaveRestoreThroughSafetensorsResumesTheStream) {
  RandomMlpAgg mlp(4, 8, 2, at::kDouble, at::kCPU);
  TensorAgg agg = [&](const TensorState& a, const TensorState& b) { return mlp(a, b); };
  auto xs = random_states(40, 2, 4, at::kDouble, 77);
  for (int64_t split : {0, 1, 11, 16, 23}) {
    TensorOnlineScanner a(agg);
    for (int64_t i = 0; i < split; ++i) a.insert(xs[i]);
    io::Safetensors file{a.save(), {{"kind", "scanner"}}};
    auto loaded = io::decode_safetensors(io::encode_safetensors(file), "memory");
    TensorOnlineScanner b(agg);
    b.restore(loaded.tensors);
    EXPECT_EQ(b.count(), split);
    EXPECT_EQ(b.stored_states(), a.stored_states());
    for (int64_t i = split; i < 40; ++i) {
      a.insert(xs[i]);
      b.insert(xs[i]);
      EXPECT_TRUE(at::equal((*a.prefix())[0], (*b.prefix())[0])) << "split " << split << " step " << i;
    }
  }
}

TEST(TensorOnlineScannerState, InconsistentSnapshotsAreRejected) {
  RandomMlpAgg mlp(4, 8, 2, at::kDouble, at::kCPU);
  TensorAgg agg = [&](const TensorState& a, const TensorState& b) { return mlp(a, b); };
  TensorOnlineScanner a(agg);
  for (const auto& x : random_states(5, 2, 4, at::kDouble, 1)) a.insert(x);  // roots 0 and 2
  auto saved = a.save();
  {
    auto broken = saved;
    broken.erase("scanner.root.2.0");
    TensorOnlineScanner b(agg);
    EXPECT_THROW(b.restore(broken), Error);
  }
  {
    auto broken = saved;
    broken["scanner.count"] = at::full({1}, 6, at::kLong);
    TensorOnlineScanner b(agg);
    EXPECT_THROW(b.restore(broken), Error);
  }
  {
    auto broken = saved;
    broken["scanner.root.0.0"] = at::zeros({3, 4}, at::kDouble);
    TensorOnlineScanner b(agg);
    EXPECT_THROW(b.restore(broken), Error);
  }
  {
    auto broken = saved;
    broken["scanner.root.1.0"] = at::zeros({2, 4}, at::kDouble);
    TensorOnlineScanner b(agg);
    EXPECT_THROW(b.restore(broken), Error);
  }
  TensorOnlineScanner b(agg);
  EXPECT_THROW(b.restore({}), Error);
}

using scanlab::testing::error_of;

TEST(TensorScanErrors, MismatchedStatesNameWhatIsWrong) {
  TensorAgg agg = [](const TensorState& a, const TensorState& b) { return TensorState{a[0] + b[0]}; };
  auto d = at::TensorOptions().dtype(at::kDouble);
  EXPECT_NE(error_of([&] { tensor_blelloch_scan({}, agg, ScanKind::Exclusive); }).find("empty"), std::string::npos);
  std::string shape = error_of([&] {
    tensor_blelloch_scan({{at::zeros({2, 3}, d)}, {at::zeros({2, 4}, d)}}, agg, ScanKind::Exclusive);
  });
  EXPECT_NE(shape.find("state 1"), std::string::npos) << shape;
  EXPECT_NE(shape.find("[2, 4]"), std::string::npos) << shape;
  std::string dtype = error_of([&] {
    tensor_blelloch_scan({{at::zeros({2, 3}, d)}, {at::zeros({2, 3}, at::kFloat)}}, agg, ScanKind::Exclusive);
  });
  EXPECT_NE(dtype.find("Float"), std::string::npos) << dtype;
  std::string device = error_of([&] {
    tensor_blelloch_scan({{at::zeros({2, 3}, d)}, {at::empty({2, 3}, d.device(at::kMeta))}}, agg, ScanKind::Exclusive);
  });
  EXPECT_NE(device.find("meta"), std::string::npos) << device;
  std::string count = error_of([&] {
    tensor_blelloch_scan({{at::zeros({2, 3}, d)}, {at::zeros({2, 3}, d), at::zeros({2, 3}, d)}}, agg,
                         ScanKind::Exclusive);
  });
  EXPECT_NE(count.find("2 tensors"), std::string::npos) << count;
  std::string scalar = error_of([&] { tensor_blelloch_scan({{at::zeros({}, d)}}, agg, ScanKind::Exclusive); });
  EXPECT_NE(scalar.find("batch"), std::string::npos) << scalar;
  TensorOnlineScanner online(agg);
  online.insert({at::zeros({2, 3}, d)});
  std::string insert = error_of([&] { online.insert({at::zeros({5, 3}, d)}); });
  EXPECT_NE(insert.find("inserted state 1"), std::string::npos) << insert;
  TensorAgg bad_batch = [](const TensorState& a, const TensorState&) { return TensorState{a[0][0]}; };
  std::string out = error_of([&] {
    tensor_blelloch_scan({{at::zeros({2, 3}, d)}, {at::zeros({2, 3}, d)}, {at::zeros({2, 3}, d)}}, bad_batch,
                         ScanKind::Exclusive);
  });
  EXPECT_NE(out.find("leading size"), std::string::npos) << out;
}

}  // namespace
}  // namespace scanlab::scan

namespace scanlab::scan {
namespace {

// CUDA tensors: the parallel scan and the online scanner on the GPU agree with each other and with
// the float64 CPU reference (float32 rounding, TF32 off by default in LibTorch matmuls).
TEST(TensorScanCuda, ParallelAndOnlineOnCudaMatchTheFloat64CpuReference) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  RandomMlpAgg cpu64(16, 32, 8, at::kDouble, at::kCPU);
  RandomMlpAgg gpu32(16, 32, 8, at::kFloat, at::Device(at::kCUDA, 0));
  TensorAgg agg64 = [&](const TensorState& a, const TensorState& b) { return cpu64(a, b); };
  TensorAgg agg32 = [&](const TensorState& a, const TensorState& b) { return gpu32(a, b); };
  for (int64_t n : {1, 2, 5, 16, 33, 67}) {
    auto xs64 = random_states(n, 4, 16, at::kDouble, 500 + n);
    std::vector<TensorState> xs32;
    for (const auto& x : xs64) xs32.push_back({x[0].to(at::Device(at::kCUDA, 0), at::kFloat)});
    auto ref = tensor_blelloch_scan(xs64, agg64, ScanKind::Inclusive);
    auto par = tensor_blelloch_scan(xs32, agg32, ScanKind::Inclusive);
    TensorOnlineScanner online(agg32);
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_TRUE((*par[i])[0].is_cuda());
      online.insert(xs32[i]);
      const std::string at_i = "N=" + std::to_string(n) + " i=" + std::to_string(i);
      // float32 over up to 2*log2(67) compositions: relative to the prefix's magnitude.
      const double scale = 1 + (*ref[i])[0].abs().max().item<double>();
      expect_close("cuda parallel vs cpu f64 " + at_i, (*ref[i])[0], (*par[i])[0], 1e-4 * scale);
      expect_close("cuda online vs cuda parallel " + at_i, (*par[i])[0], (*online.prefix())[0], 1e-4 * scale);
    }
  }
}

}  // namespace
}  // namespace scanlab::scan
