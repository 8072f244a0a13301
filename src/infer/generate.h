// Streaming generation: prefill the prompt in parallel, then one token at a time through the
// model's Stream, handing each token to a callback as soon as it exists. Records per-step latency,
// chunk-boundary (Agg) steps and state bytes for --stats.
#pragma once
#include <ATen/ATen.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "infer/latency_stats.h"
#include "infer/sampler.h"
#include "io/safetensors.h"
#include "models/sequence_model.h"

namespace scanlab::infer {

struct GenerateOptions {
  int64_t max_new_tokens = 64;
  SamplingOptions sampling;
  uint64_t seed = 0;
  bool cuda_graphs = true;       // replay decode steps as CUDA graphs where the stream allows it
  bool boundary_overlap = true;  // overlap chunk-boundary work with the step (Stream::use_boundary_overlap)
  // Memory that does not grow with the stream: tokens are kept only when asked (the callback sees
  // every one), and at most max_step_records step records are kept: when full, every second one is
  // dropped and from then on one step in twice as many is recorded (GenerateResult::step_stride).
  bool keep_tokens = true;
  int64_t max_step_records = int64_t{1} << 20;
};

struct GenerateResult {
  at::Tensor tokens;              // [B, max_new_tokens] generated ids (CPU, int64); undefined without keep_tokens
  std::vector<StepRecord> steps;  // every step_stride-th stream step (all of them while they fit)
  int64_t step_stride = 1;
  double prefill_ms = 0;
  std::unique_ptr<models::Stream> stream;  // positioned after the last generated token was fed
  at::Tensor next_logits;                  // [B, V] logits for the token after the last one
  bool cuda_graphs = false;                // whether the steps were replayed as CUDA graphs
  bool boundary_overlap = false;           // whether chunk-boundary work ran on a second stream
};

// The most tokens one generate call produces: 2^30 is about a day at 10^4 tokens a second; a larger
// request is a typo (10^12 would run for years), and a longer stream continues with --resume-state.
constexpr int64_t kMaxNewTokens = int64_t{1} << 30;

using TokenCallback = std::function<void(int64_t index, const at::Tensor& tokens /*[B]*/)>;

// From a prompt [B, T] (T >= 1).
GenerateResult generate(models::SequenceModel& model, const at::Tensor& prompt, const GenerateOptions& opts,
                        const TokenCallback& on_token);

// Continues a saved stream: `logits` [B, V] are the saved next-token logits.
GenerateResult generate_from_stream(models::SequenceModel& model, std::unique_ptr<models::Stream> stream,
                                    at::Tensor logits, const GenerateOptions& opts, const TokenCallback& on_token);

// A stream and its pending logits as named tensors (for safetensors), and back. Loading validates
// every field (the stream's restore) and refuses NaN or Inf in any floating tensor.
std::map<std::string, at::Tensor> save_generation_state(const models::Stream& stream, const at::Tensor& logits);
std::pair<std::unique_ptr<models::Stream>, at::Tensor> load_generation_state(
    models::SequenceModel& model, const std::map<std::string, at::Tensor>& tensors);

// The state as a file bound to the model file it continues: metadata "scanlab.generation_of" (the
// model's config) and kStateModelHashKey (the model file's weights SHA-1, ModelFile::weights_sha1).
constexpr const char* kStateModelHashKey = "scanlab.model_weights_sha1";
io::Safetensors generation_state_file(const models::Stream& stream, const at::Tensor& logits,
                                      const nlohmann::json& model_config, const std::string& model_sha1);
// Reads such a file back for `model`, whose file has the weights hash `model_sha1`: a state saved by
// other weights (even of the same config) is refused naming both hashes. Errors name `source`.
std::pair<std::unique_ptr<models::Stream>, at::Tensor> load_generation_state_file(models::SequenceModel& model,
                                                                                  const io::Safetensors& file,
                                                                                  const std::string& model_sha1,
                                                                                  const std::string& source);

}  // namespace scanlab::infer
