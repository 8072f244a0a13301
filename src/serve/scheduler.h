// Continuous batching: one scheduler thread owns the model. Each tick it admits queued requests
// (up to --max-batch live ones; the new prompts are prefilled in parallel, those of one length as
// one batch through model.prefill_together, a continued session steps only its appended tokens),
// then steps every live request once, all of
// them in one models::step_together call, and retires the finished ones, keeping their streams as
// sessions when asked. Requests therefore join and leave between ticks, never inside one.
// Each request keeps its own Stream of batch 1; step_together runs the model's per-token matrix
// products once over all of them (the affine models' whole step; attention per stream for GPT-2
// and the Transformer-PSM), so a tick costs far less than stepping the streams one by one.
// A request ends with finish_reason "stop" when it produces the end token (SchedulerOptions), else
// "length" after max_tokens.
// Per request, token i is sampled exactly as infer::generate samples it (same generator seeded by
// the request's seed, same order of sample/step), so a request reproduces `scanlab generate`.
#pragma once
#include <ATen/ATen.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "infer/sampler.h"
#include "models/sequence_model.h"
#include "serve/metrics.h"
#include "serve/sessions.h"
#include "serve/text.h"

namespace scanlab::serve {

struct JobSpec {
  std::vector<int64_t> prompt;  // a new request's prompt, or the tokens appended to a session
  std::string session_id;       // "" = a new request; else the session to continue
  int64_t max_tokens = 16;
  infer::SamplingOptions sampling;
  uint64_t seed = 0;
  bool keep_session = false;
};

// One request's progress, written by the scheduler and read by its HTTP handler.
class Job {
 public:
  Job(JobSpec spec, bool byte_text) : spec_(std::move(spec)), text_(byte_text) {}
  const JobSpec& spec() const { return spec_; }

  struct Progress {
    std::vector<int64_t> ids;         // tokens from the index asked for on
    std::vector<std::string> pieces;  // the text each of them completes
    bool started = false, done = false;
    int error_status = 0;  // non-zero: the request failed
    std::string error;
    std::string tail;           // text still held at the end (done only)
    std::string finish_reason;  // "stop" (the end token) or "length" (done only)
    std::string session_id;     // when kept (done only)
    int64_t state_bytes = 0;    // the kept session's stream state (done only)
    int64_t position = 0;       // tokens the session's stream has consumed (done only)
    int64_t prompt_tokens = 0;
  };
  enum class Until { Started, MoreTokens, Done };
  // Blocks until the condition holds (a failed job ends every wait) or `timeout` passes; returns the
  // tokens from index `have` on.
  Progress wait(Until until, size_t have, std::chrono::milliseconds timeout);
  void cancel();  // the client went away: the scheduler drops the job at its next tick
  bool cancelled() const;

  // Scheduler side.
  void start(int64_t prompt_tokens);
  void push(int64_t id);
  void finish(const std::string& finish_reason, const std::string& session_id, int64_t state_bytes, int64_t position);
  void fail(int status, const std::string& message);

 private:
  JobSpec spec_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  TokenText text_;
  std::vector<int64_t> ids_;
  std::vector<std::string> pieces_;
  bool started_ = false, done_ = false, cancelled_ = false;
  int error_status_ = 0;
  std::string error_, tail_, finish_reason_, session_id_;
  int64_t state_bytes_ = 0, position_ = 0, prompt_tokens_ = 0;
};

struct SchedulerOptions {
  int64_t max_batch = 16;                    // live requests stepped per tick; the rest wait in the queue
  int64_t session_bytes = int64_t{1} << 30;  // memory for idle sessions before LRU eviction
  std::string session_dir;                   // where evicted sessions go ("" = dropped)
  std::optional<int64_t> end_token;  // ends a request with "stop" (GPT-2 BPE's <|endoftext|>); none: only "length"
  std::string model_sha1;            // the model file's weights SHA-1: binds sessions on disk (needed with session_dir)
};

class Scheduler {
 public:
  Scheduler(std::shared_ptr<models::SequenceModel> model, SchedulerOptions opts, Metrics& metrics);
  ~Scheduler();  // stop()s
  // Queues the job; after stop() it fails at once with 503.
  void submit(const std::shared_ptr<Job>& job);
  // Fails queued and live jobs with 503 and joins the thread. Idempotent.
  void stop();

 private:
  struct Live;
  void loop();
  using Prefilled = std::pair<at::Tensor, std::unique_ptr<models::Stream>>;
  // A new request starts from `prefilled` (its prompt's logits and stream) when given, else from a
  // prefill of its own; a continued one from its session.
  void admit(Live& live, Prefilled* prefilled);
  // admit() with its failures told to the request (400 naming the limit, 404, 409, 500); true if it joined.
  bool try_admit(Live& live, Prefilled* prefilled);
  at::Tensor prompt_of(const JobSpec& spec) const;  // [1, T] on the model's device
  void emit(Live& live);                            // the pending token to the client
  void step(const std::vector<Live*>& group);       // one step_together over the group, then sampling
  bool finished(const Live& live) const;
  struct Ending {  // a retired request, told to its handler after the tick's gauges are out
    std::shared_ptr<Job> job;
    std::string finish_reason, session_id;
    int64_t state_bytes, position;
  };
  Ending retire(Live& live);
  void publish_gauges(const std::vector<std::unique_ptr<Live>>& live);

  std::shared_ptr<models::SequenceModel> model_;
  SchedulerOptions opts_;
  Metrics& metrics_;
  at::Device device_;
  SessionStore sessions_;                // scheduler thread only
  std::set<std::string> busy_sessions_;  // sessions being continued now (scheduler thread only)
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace scanlab::serve
