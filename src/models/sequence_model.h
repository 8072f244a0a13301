// The interface every sequence model in scanlab implements (PSM paper §1.1): a parallel (training)
// evaluation and a streaming (token-by-token) evaluation of the same causal function.
//   forward(tokens [B, T]) -> logits [B, T, V]          any T >= 1, not only multiples of a chunk
//   prefill(tokens [B, T]) -> (logits [B, T, V], stream positioned after the T tokens)
//   stream->step(token [B]) -> logits [B, V]             the next position
//   step_together({s_1..s_N}, tokens [N]) -> [N, V]      N streams of batch 1 as one batch
// Invariants (tested for every registered model): logits from prefill + step x n equal forward on
// the whole sequence, to rounding; step_together equals each stream's own step, to rounding.
#pragma once
#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/strict_json.h"

namespace scanlab::models {

// The largest chunk length a config may ask for: a sequence shorter than its chunk is padded to it,
// so a chunk of 2^62 tokens was an allocation of 2^62 x width.
constexpr int64_t kMaxChunkLength = int64_t{1} << 16;

// The strict reader of a model's config (core/strict_json.h): messages open with "<model> config",
// and a "model" key, where present, must name this model. Each model's from_json is a list of
// reads through it, then finish().
inline StrictJson model_config_reader(const nlohmann::json& config, const std::string& model) {
  StrictJson r(config, model + " config");
  r.expect("model", model);
  return r;
}

// A model's inference-time state: KV caches, recurrent states, scanner roots.
class Stream {
 public:
  virtual ~Stream() = default;
  // token [B] int64 -> logits [B, V] for the position after everything seen so far.
  virtual at::Tensor step(const at::Tensor& token) = 0;
  // Tokens consumed so far.
  virtual int64_t position() const = 0;
  // Bytes of state this stream holds now (caches, recurrent states, stored chunk states).
  virtual int64_t state_bytes() const = 0;
  // Everything needed to continue the stream exactly; restore() validates names and shapes.
  virtual std::map<std::string, at::Tensor> save() const = 0;
  virtual void restore(const std::map<std::string, at::Tensor>& tensors) = 0;
  // Agg calls made so far (chunk aggregations of a PSM); 0 for models without Agg. Lets latency
  // reports separate chunk-boundary steps from plain ones.
  virtual int64_t agg_calls() const { return 0; }
  // Asks for each step to be replayed as a CUDA graph (core/cuda_graph_call.h) and returns whether
  // that will happen: only on a CUDA build, for a stream on a CUDA device, for models whose step
  // has fixed shapes. The function computed is the same; only launch overhead goes away.
  virtual bool use_cuda_graphs(bool on) {
    (void)on;
    return false;
  }
  // Asks for a PSM's chunk-boundary work (Agg calls, the Inf prefill of the new prefix) to run on a
  // second CUDA stream, overlapping the boundary token's own step, and returns whether it will
  // (streams with such work, on a CUDA device). The function computed is the same.
  virtual bool use_boundary_overlap(bool on) {
    (void)on;
    return false;
  }
  // Throws, without stepping, the error the next step() would throw for a limit of the stream
  // itself (a learned position past n_positions). step_together runs it for every stream first,
  // so a server can fail the one request at its limit and step the others.
  virtual void check_next_step() const {}
  // This stream of batch B as B streams of batch 1, stream i continuing row i exactly (copies; this
  // one is left as it was). SequenceModel::prefill_together prefills several prompts as one batch
  // and hands each its own stream with it.
  virtual std::vector<std::unique_ptr<Stream>> split() const = 0;

 protected:
  friend at::Tensor step_together(const std::vector<Stream*>& streams, const at::Tensor& tokens);
  // step_together's body, called on streams[0] once every stream passed check_next_step. The default
  // steps the streams one after another; a model overrides it to run its per-token matrix products
  // once over all the streams (its override falls back to this one for streams of other models).
  virtual at::Tensor step_group(const std::vector<Stream*>& streams, const at::Tensor& tokens);
};

// Feeds tokens [B, T] (T >= 1) through `stream` one position at a time, continuing from where the
// stream stands, and returns the logits [B, T, V] of those T positions: the streaming evaluation
// that the default prefill, `eval --mode stream`, `score --mode stream` and the duality tests
// compare with forward(), written once so that they all compare the same thing. `after_step`, when
// given, sees the stream after each token (score follows the state's size with it). Grad mode is
// the caller's: the default prefill may be differentiated, the evaluators run under no_grad.
at::Tensor stream_logits(Stream& stream, const at::Tensor& tokens,
                         const std::function<void(const Stream&)>& after_step = nullptr);

// The largest position a restored stream may claim: 2^48 tokens is over 800 years at 10^4 tokens a
// second, so a larger one is a corrupt or forged state (and 2^62 would overflow the step counters).
constexpr int64_t kMaxStreamPosition = int64_t{1} << 48;

// The "position" tensor of a saved stream: one int64 in [0, min(limit, kMaxStreamPosition)] (limit < 0:
// no limit of the model's own). A float 16.5, a negative or a huge position is an error naming `what`.
int64_t restored_position(const std::map<std::string, at::Tensor>& tensors, const std::string& what,
                          int64_t limit = -1);

// Steps several streams of batch 1 as one batch: streams[i] takes tokens[i] (tokens [N] int64)
// and row i of the logits [N, V] is what streams[i]->step(tokens[i:i+1]) would return, to rounding
// (one matrix product over N rows may round differently from N products of one row). The streams
// must be distinct; a stream at a limit throws (check_next_step) before any stream moves. A group
// of one is that stream's step().
at::Tensor step_together(const std::vector<Stream*>& streams, const at::Tensor& tokens);

// The streams of a group as S, or none when any is another type or fails `same_model(S&)`:
// step_group overrides then take the default path.
template <class S, class SameModel>
std::vector<S*> streams_as(const std::vector<Stream*>& streams, SameModel same_model) {
  std::vector<S*> out;
  for (Stream* s : streams) {
    auto* typed = dynamic_cast<S*>(s);
    if (!typed || !same_model(*typed)) return {};
    out.push_back(typed);
  }
  return out;
}

class SequenceModel : public torch::nn::Module {
 public:
  // Registry name, e.g. "transformer_psm", "gpt2", "gla".
  virtual std::string kind() const = 0;
  // The full configuration as JSON ({"model": kind, ...}); make_model(config()) rebuilds the model.
  virtual nlohmann::json config() const = 0;
  virtual int64_t vocab_size() const = 0;

  // Parallel evaluation: tokens [B, T] int64 -> logits [B, T, V].
  virtual at::Tensor forward(const at::Tensor& tokens) = 0;
  // A fresh stream for a batch of B sequences, on the model's device.
  virtual std::unique_ptr<Stream> start_stream(int64_t batch) = 0;
  // Prefill: logits for every prompt position and a stream ready for the next token. The default
  // steps token by token; models override it with a parallel prefill that yields the same state.
  virtual std::pair<at::Tensor, std::unique_ptr<Stream>> prefill(const at::Tensor& tokens);
  // Prefills several prompts of batch 1 (each [1, T_i]): result i is what prefill(prompts[i])
  // returns, to rounding. Prompts of one length go as one [B, T] prefill whose stream is split(),
  // at most `max_batch_tokens` tokens (B x T) a batch, which bounds the logits it holds at once.
  std::vector<std::pair<at::Tensor, std::unique_ptr<Stream>>> prefill_together(const std::vector<at::Tensor>& prompts,
                                                                               int64_t max_batch_tokens);
};

}  // namespace scanlab::models
