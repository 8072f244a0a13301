// Shared checks for sequence models: the duality invariant (parallel forward == prefill + steps)
// that every registered model must satisfy, used by tests/models/test_duality.cpp and by
// model-specific tests for configurations other than the registry's small one.
#pragma once
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>

#include "models/registry.h"
#include "models/sequence_model.h"
#include "support/expect_close.h"

namespace scanlab::testing {

inline double duality_tolerance(at::ScalarType dtype) { return dtype == at::kDouble ? 1e-10 : 1e-4; }

// Redraws every weight at a scale where each path matters: matrices N(0, 1/min(rows, cols)),
// vectors (biases, LayerNorm gains) N(0, 0.5^2). With GPT-2's N(0, 0.02) init the blocks are
// nearly the identity, and a wrong mask or a misplaced state in the stream moves the logits by
// only ~1e-5, below the float32 tolerance; here it moves them by O(1).
inline void widen_weights(models::SequenceModel& model) {
  torch::NoGradGuard no_grad;
  for (auto& p : model.parameters()) {
    const double std = p.dim() >= 2 ? 1.0 / std::sqrt(static_cast<double>(std::min(p.size(0), p.size(1)))) : 0.5;
    p.normal_(0.0, std);
  }
}

// Base of the test suites over every registered model (no skip list) in float64 and float32:
// make() builds the model's small_config, widened, in that dtype, in eval mode (dropout off).
class EveryModel : public ::testing::TestWithParam<std::tuple<std::string, at::ScalarType>> {
 protected:
  void make(uint64_t seed) {
    at::manual_seed(seed);
    model = models::make_model(models::find_model(name()).small_config());
    widen_weights(*model);
    model->to(dtype());
    model->eval();
  }
  std::string name() const { return std::get<0>(GetParam()); }
  at::ScalarType dtype() const { return std::get<1>(GetParam()); }

  std::shared_ptr<models::SequenceModel> model;
};

inline auto every_model_and_dtype() {
  return ::testing::Combine(::testing::ValuesIn(models::model_names()), ::testing::Values(at::kDouble, at::kFloat));
}
inline std::string model_and_dtype_name(const ::testing::TestParamInfo<EveryModel::ParamType>& info) {
  return std::get<0>(info.param) + (std::get<1>(info.param) == at::kDouble ? "_f64" : "_f32");
}

// models::stream_logits from a fresh stream (logits [B, T, V]), checking that the stream counted
// every token.
inline at::Tensor stream_logits(models::SequenceModel& model, const at::Tensor& tokens) {
  auto stream = model.start_stream(tokens.size(0));
  const at::Tensor logits = models::stream_logits(*stream, tokens);
  EXPECT_EQ(stream->position(), tokens.size(1));
  return logits;
}

// forward(tokens[:, :T]) == the first T streamed logits, for every T = 1..tokens.size(1); then
// prefill(tokens[:, :p]) + steps == forward, for every split p.
inline void expect_dual(models::SequenceModel& model, const at::Tensor& tokens, double tol, const std::string& name) {
  torch::NoGradGuard no_grad;
  const int64_t t_max = tokens.size(1);
  const at::Tensor streamed = stream_logits(model, tokens);
  for (int64_t t = 1; t <= t_max; ++t)
    expect_close(name + " forward vs stream, T=" + std::to_string(t), model.forward(tokens.slice(1, 0, t)),
                 streamed.slice(1, 0, t), tol);
  const at::Tensor full = model.forward(tokens);
  for (int64_t p = 1; p < t_max; ++p) {
    auto [logits, stream] = model.prefill(tokens.slice(1, 0, p));
    EXPECT_EQ(stream->position(), p);
    const at::Tensor rest = models::stream_logits(*stream, tokens.slice(1, p));
    expect_close(name + " prefill " + std::to_string(p) + " + steps vs forward", full, at::cat({logits, rest}, 1), tol);
  }
}

}  // namespace scanlab::testing
