#include "infer/generate.h"

#include <ATen/CPUGeneratorImpl.h>

#include <chrono>

#include "core/check.h"
#include "core/device_sync.h"

namespace scanlab::infer {
namespace {

constexpr const char* kLogitsName = "generate.next_logits";
constexpr const char* kStreamPrefix = "stream.";

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

GenerateResult generate_from_stream(models::SequenceModel& model, std::unique_ptr<models::Stream> stream,
                                    at::Tensor logits, const GenerateOptions& opts, const TokenCallback& on_token) {
  validate(opts.sampling);
  SCANLAB_CHECK(opts.max_new_tokens >= 1 && opts.max_new_tokens <= kMaxNewTokens, "--max-new-tokens ",
                opts.max_new_tokens, ": expected 1..", kMaxNewTokens, " (2^30)");
  SCANLAB_CHECK(logits.dim() == 2 && logits.size(1) == model.vocab_size(), "generate: logits must be [B, ",
                model.vocab_size(), "], got ", logits.sizes());
  at::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(opts.seed);
  auto params = model.parameters();
  const auto device = params.empty() ? logits.device() : params.front().device();
  logits = logits.to(device);
  GenerateResult result;
  result.cuda_graphs = stream->use_cuda_graphs(opts.cuda_graphs);
  result.boundary_overlap = stream->use_boundary_overlap(opts.boundary_overlap);
  SCANLAB_CHECK(opts.max_step_records >= 2, "generate: max_step_records ", opts.max_step_records, ": expected >= 2");
  std::vector<int64_t> produced;  // [max_new_tokens, B] row-major, only with keep_tokens
  const int64_t batch = logits.size(0);
  at::Tensor next = sample_next(logits, opts.sampling, gen);
  for (int64_t i = 0; i < opts.max_new_tokens; ++i) {
    const at::Tensor on_cpu = next.to(at::kCPU).contiguous();
    if (opts.keep_tokens)
      produced.insert(produced.end(), on_cpu.data_ptr<int64_t>(), on_cpu.data_ptr<int64_t>() + batch);
    if (on_token) on_token(i, on_cpu);
    const int64_t aggs_before = stream->agg_calls();
    const auto t0 = std::chrono::steady_clock::now();
    logits = stream->step(next);
    synchronize(device);
    if (i % result.step_stride == 0) {
      result.steps.push_back({ms_since(t0), stream->agg_calls() > aggs_before, stream->state_bytes()});
      if (static_cast<int64_t>(result.steps.size()) == opts.max_step_records) {  // thin out: keep steps 0, 2s, 4s, ...
        for (size_t k = 0; 2 * k < result.steps.size(); ++k) result.steps[k] = result.steps[2 * k];
        result.steps.resize((result.steps.size() + 1) / 2);
        result.step_stride *= 2;
      }
    }
    if (i + 1 < opts.max_new_tokens) next = sample_next(logits, opts.sampling, gen);
  }
  if (opts.keep_tokens)
    result.tokens = at::tensor(produced, at::kLong).view({opts.max_new_tokens, batch}).t().contiguous();
  result.stream = std::move(stream);
  result.next_logits = logits;
  return result;
}

GenerateResult generate(models::SequenceModel& model, const at::Tensor& prompt, const GenerateOptions& opts,
                        const TokenCallback& on_token) {
  SCANLAB_CHECK(prompt.dim() == 2 && prompt.size(1) >= 1, "generate: the prompt must be [B, T] with T >= 1, got ",
                prompt.sizes());
  at::NoGradGuard no_grad;
  const auto t0 = std::chrono::steady_clock::now();
  auto [logits, stream] = model.prefill(prompt);
  synchronize(logits.device());
  const double prefill_ms = ms_since(t0);
  GenerateResult r =
      generate_from_stream(model, std::move(stream), logits.select(1, logits.size(1) - 1), opts, on_token);
  r.prefill_ms = prefill_ms;
  return r;
}

std::map<std::string, at::Tensor> save_generation_state(const models::Stream& stream, const at::Tensor& logits) {
  std::map<std::string, at::Tensor> out;
  for (auto& [name, t] : stream.save()) out[kStreamPrefix + name] = t;
  out[kLogitsName] = logits.detach();
  return out;
}

std::pair<std::unique_ptr<models::Stream>, at::Tensor> load_generation_state(
    models::SequenceModel& model, const std::map<std::string, at::Tensor>& tensors) {
  // A NaN cache would only show up as NaN logits many tokens later.
  for (const auto& [name, t] : tensors)
    SCANLAB_CHECK(!at::isFloatingType(t.scalar_type()) || t.isfinite().all().item<bool>(), "generation state: '", name,
                  "' holds NaN or Inf values; expected finite states and logits");
  auto it = tensors.find(kLogitsName);
  SCANLAB_CHECK(it != tensors.end(), "generation state: '", kLogitsName,
                "' is missing; was this file written by `scanlab generate --save-state`?");
  const at::Tensor& logits = it->second;
  SCANLAB_CHECK(logits.dim() == 2 && logits.size(1) == model.vocab_size(), "generation state: '", kLogitsName, "' is ",
                logits.sizes(), "; expected [B, ", model.vocab_size(), "] for this model");
  std::map<std::string, at::Tensor> stream_tensors;
  const std::string prefix = kStreamPrefix;
  for (const auto& [name, t] : tensors)
    if (name.rfind(prefix, 0) == 0) stream_tensors[name.substr(prefix.size())] = t;
  auto stream = model.start_stream(logits.size(0));
  stream->restore(stream_tensors);
  return {std::move(stream), logits};
}

io::Safetensors generation_state_file(const models::Stream& stream, const at::Tensor& logits,
                                      const nlohmann::json& model_config, const std::string& model_sha1) {
  return {save_generation_state(stream, logits),
          {{"scanlab.generation_of", model_config.dump()}, {kStateModelHashKey, model_sha1}}};
}

std::pair<std::unique_ptr<models::Stream>, at::Tensor> load_generation_state_file(models::SequenceModel& model,
                                                                                  const io::Safetensors& file,
                                                                                  const std::string& model_sha1,
                                                                                  const std::string& source) {
  auto it = file.metadata.find(kStateModelHashKey);
  SCANLAB_CHECK(it != file.metadata.end(), source, ": no '", kStateModelHashKey,
                "' metadata, so the model it continues is unknown; expected a state written by "
                "`scanlab generate --save-state` of this version");
  SCANLAB_CHECK(it->second == model_sha1, source, ": the state was saved by a model whose weights' SHA-1 is ",
                it->second, " but this model's is ", model_sha1, "; expected the model file that saved it");
  // The config it records must be the model's too: a file that says otherwise was edited or is corrupt.
  const auto of = file.metadata.find("scanlab.generation_of");
  if (of != file.metadata.end()) {
    const auto recorded = nlohmann::json::parse(of->second, nullptr, /*allow_exceptions=*/false);
    SCANLAB_CHECK(recorded == model.config(), source, ": the state records the model configuration ", of->second,
                  " but the model's is ", model.config().dump(), "; expected the model file that saved it");
  }
  try {
    return load_generation_state(model, file.tensors);
  } catch (const Error& e) {
    throw Error(source + ": " + e.what());
  }
}

}  // namespace scanlab::infer
