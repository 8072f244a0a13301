// expect_close: compares tensors and, on failure, prints the name, the max abs error and the
// relative RMS error (as fla's assert_close does). NaN anywhere fails.
#pragma once
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <string>

namespace scanlab::testing {

inline void expect_close(const std::string& name, const at::Tensor& expected, const at::Tensor& actual,
                         double max_abs) {
  ASSERT_EQ(expected.sizes(), actual.sizes()) << name << ": shapes differ";
  at::Tensor e = expected.detach().to(at::kCPU, at::kDouble), a = actual.detach().to(at::kCPU, at::kDouble);
  ASSERT_FALSE(a.isnan().any().item<bool>()) << name << ": NaN in the result";
  const double err = (e - a).abs().max().item<double>();
  const double rel_rms = ((e - a).pow(2).mean().sqrt() / (e.pow(2).mean().sqrt() + 1e-300)).item<double>();
  EXPECT_LE(err, max_abs) << name << ": max abs error " << err << ", relative RMS " << rel_rms;
}

}  // namespace scanlab::testing
