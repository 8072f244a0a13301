#include "serve/scheduler.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include <algorithm>
#include <random>

#include "core/check.h"
#include "serve/request.h"

namespace scanlab::serve {
namespace {

using Clock = std::chrono::steady_clock;

at::Device device_of(models::SequenceModel& model) {
  auto params = model.parameters();
  return params.empty() ? at::Device(at::kCPU) : params.front().device();
}

// Tokens of one batched prefill at most (batch x prompt length): its logits then take no more
// memory than one prompt of --max-prompt-tokens' default length does alone.
constexpr int64_t kPrefillBatchTokens = 4096;

}  // namespace

// ---- Job -------------------------------------------------------------------------------------

Job::Progress Job::wait(Until until, size_t have, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, timeout, [&] {
    if (done_) return true;
    if (until == Until::Started) return started_;
    if (until == Until::MoreTokens) return ids_.size() > have;
    return false;
  });
  Progress p;
  p.started = started_;
  p.done = done_;
  p.error_status = error_status_;
  p.error = error_;
  p.prompt_tokens = prompt_tokens_;
  if (have < ids_.size()) {
    p.ids.assign(ids_.begin() + static_cast<std::ptrdiff_t>(have), ids_.end());
    p.pieces.assign(pieces_.begin() + static_cast<std::ptrdiff_t>(have), pieces_.end());
  }
  if (done_) {
    p.tail = tail_;
    p.finish_reason = finish_reason_;
    p.session_id = session_id_;
    p.state_bytes = state_bytes_;
    p.position = position_;
  }
  return p;
}

void Job::cancel() {
  std::lock_guard<std::mutex> lock(mu_);
  cancelled_ = true;
}

bool Job::cancelled() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cancelled_;
}

void Job::start(int64_t prompt_tokens) {
  std::lock_guard<std::mutex> lock(mu_);
  started_ = true;
  prompt_tokens_ = prompt_tokens;
  cv_.notify_all();
}

void Job::push(int64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  ids_.push_back(id);
  pieces_.push_back(text_.push(id));
  cv_.notify_all();
}

void Job::finish(const std::string& finish_reason, const std::string& session_id, int64_t state_bytes,
                 int64_t position) {
  std::lock_guard<std::mutex> lock(mu_);
  if (done_) return;
  tail_ = text_.flush();
  finish_reason_ = finish_reason;
  session_id_ = session_id;
  state_bytes_ = state_bytes;
  position_ = position;
  done_ = true;
  cv_.notify_all();
}

void Job::fail(int status, const std::string& message) {
  std::lock_guard<std::mutex> lock(mu_);
  if (done_) return;
  error_status_ = status;
  error_ = message;
  done_ = true;
  cv_.notify_all();
}

// ---- Scheduler -------------------------------------------------------------------------------

at::Tensor Scheduler::prompt_of(const JobSpec& spec) const {
  SCANLAB_ASSERT(!spec.prompt.empty());
  return at::tensor(spec.prompt, at::kLong).unsqueeze(0).to(device_);  // [1, T]
}

struct Scheduler::Live {
  std::shared_ptr<Job> job;
  std::unique_ptr<models::Stream> stream;
  at::Tensor logits;  // [1, V] for the next position
  at::Tensor next;    // [1] the token sampled from them, emitted at the next tick
  at::Generator gen;
  int64_t produced = 0;
  bool stopped = false;    // the end token was produced
  std::string session_id;  // the session this request continues or will be kept as ("" = none)
  Clock::time_point last;  // when the previous token was emitted (or the request admitted)
  bool drop = false;
};

Scheduler::Scheduler(std::shared_ptr<models::SequenceModel> model, SchedulerOptions opts, Metrics& metrics)
    : model_(std::move(model)),
      opts_(std::move(opts)),
      metrics_(metrics),
      device_(device_of(*model_)),
      sessions_(*model_, opts_.model_sha1, opts_.session_bytes, opts_.session_dir) {
  SCANLAB_CHECK(opts_.max_batch >= 1, "--max-batch ", opts_.max_batch, ": expected at least 1");
  thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() { stop(); }

void Scheduler::submit(const std::shared_ptr<Job>& job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      queue_.push_back(job);
      cv_.notify_all();
      return;
    }
  }
  job->fail(503, "the server is shutting down");
}

void Scheduler::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void Scheduler::admit(Live& l, Prefilled* prefilled) {
  const JobSpec& spec = l.job->spec();
  if (spec.session_id.empty()) {
    Prefilled own;
    if (!prefilled) {
      own = model_->prefill(prompt_of(spec));
      prefilled = &own;
    }
    const at::Tensor& logits = prefilled->first;
    l.logits = logits.select(1, logits.size(1) - 1);  // [1, V]
    l.stream = std::move(prefilled->second);
    if (spec.keep_session) {
      // 64 random bits: ids are not guessable by another client and never collide in practice.
      static thread_local std::mt19937_64 rng{std::random_device{}()};
      do l.session_id = fmt::format("sess-{:016x}", rng());
      while (sessions_.contains(l.session_id) || busy_sessions_.count(l.session_id));
      busy_sessions_.insert(l.session_id);
    }
  } else {
    const std::string& id = spec.session_id;
    if (busy_sessions_.count(id))
      throw RequestError(409,
                         fmt::format("session '{}' is being continued by another request; retry when it ends", id));
    std::optional<Session> s;
    try {
      s = sessions_.take(id);
    } catch (const SessionRefused& e) {  // saved by another model, or corrupt: this request fails, nothing else
      throw RequestError(500, e.what());
    }
    if (!s)
      throw RequestError(404, fmt::format("unknown session '{}' (never kept, ended with keep_session false, or "
                                          "evicted with no --session-dir)",
                                          id));
    busy_sessions_.insert(id);
    l.session_id = id;
    l.stream = std::move(s->stream);
    l.logits = s->logits.to(device_);
    // The appended text is read token by token from the saved state; earlier text is not re-read.
    for (int64_t t : spec.prompt) l.logits = l.stream->step(at::full({1}, t, at::kLong).to(device_));
  }
  l.gen = at::make_generator<at::CPUGeneratorImpl>(spec.seed);
  l.next = infer::sample_next(l.logits, spec.sampling, l.gen);
  l.last = Clock::now();
  l.job->start(static_cast<int64_t>(spec.prompt.size()));
}

bool Scheduler::try_admit(Live& l, Prefilled* prefilled) {
  try {
    admit(l, prefilled);
    return true;
  } catch (const RequestError& e) {
    l.job->fail(e.status(), e.what());
  } catch (const Error& e) {  // scanlab checks in the model: the request asked for something it cannot do
    l.job->fail(400, e.what());
  } catch (const std::exception& e) {
    l.job->fail(500, std::string("generation failed: ") + e.what());
  }
  // admit() sets l.session_id only once the request holds that session (a 409 leaves it empty).
  if (!l.session_id.empty()) busy_sessions_.erase(l.session_id);
  return false;
}

void Scheduler::emit(Live& l) {
  const auto now = Clock::now();
  metrics_.token(std::chrono::duration<double, std::milli>(now - l.last).count());
  l.last = now;
  const int64_t id = l.next.to(at::kCPU).item<int64_t>();
  l.stopped = opts_.end_token && id == *opts_.end_token;
  l.job->push(id);
}

void Scheduler::step(const std::vector<Live*>& group) {
  // The emitted tokens are fed too, the end token and the last one included: a kept session's
  // stream and logits then stand after everything the client was sent.
  std::vector<models::Stream*> streams;
  std::vector<at::Tensor> tokens;
  for (Live* l : group) {
    streams.push_back(l->stream.get());
    tokens.push_back(l->next);
  }
  const at::Tensor logits = models::step_together(streams, at::cat(tokens));
  for (size_t i = 0; i < group.size(); ++i) {
    Live& l = *group[i];
    l.logits = logits.narrow(0, static_cast<int64_t>(i), 1);
    ++l.produced;
    if (!finished(l)) l.next = infer::sample_next(l.logits, l.job->spec().sampling, l.gen);
  }
}

bool Scheduler::finished(const Live& l) const { return l.stopped || l.produced >= l.job->spec().max_tokens; }

Scheduler::Ending Scheduler::retire(Live& l) {
  if (!l.session_id.empty()) busy_sessions_.erase(l.session_id);
  Ending e{l.job, l.stopped ? "stop" : "length", "", 0, l.stream->position()};
  if (l.job->spec().keep_session) {
    e.session_id = l.session_id;
    e.state_bytes = l.stream->state_bytes();
    // A copy: the row views the tick's [N, V] logits, which the session must not keep alive.
    sessions_.put(l.session_id, Session{std::move(l.stream), l.logits.clone()});
  }
  return e;
}

void Scheduler::publish_gauges(const std::vector<std::unique_ptr<Live>>& live) {
  Gauges g;
  g.live_streams = static_cast<int64_t>(live.size());
  for (const auto& l : live)
    if (l->stream) g.live_state_bytes += l->stream->state_bytes();
  g.session_state_bytes = sessions_.memory_bytes();
  g.sessions_in_memory = sessions_.in_memory();
  g.sessions_on_disk = sessions_.on_disk();
  g.session_evictions = sessions_.evictions();
  {
    std::lock_guard<std::mutex> lock(mu_);
    g.queued_requests = static_cast<int64_t>(queue_.size());
  }
  metrics_.set_gauges(g);
}

void Scheduler::loop() {
  // Grad mode is per thread: this thread runs the model, so it switches autograd off for itself.
  at::NoGradGuard no_grad;
  std::vector<std::unique_ptr<Live>> live;
  for (;;) {
    std::vector<std::shared_ptr<Job>> incoming;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty() || !live.empty(); });
      if (stopping_) break;
      while (!queue_.empty() && static_cast<int64_t>(live.size() + incoming.size()) < opts_.max_batch) {
        incoming.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    // 1. join: resume the continued sessions and prefill the new prompts between ticks.
    std::vector<std::unique_ptr<Live>> fresh;
    for (auto& job : incoming) {
      if (job->cancelled()) continue;
      auto l = std::make_unique<Live>();
      l->job = job;
      if (job->spec().session_id.empty())
        fresh.push_back(std::move(l));
      else if (try_admit(*l, nullptr))
        live.push_back(std::move(l));
    }
    // New prompts prefill together. If that fails, each prefills alone, so an error reaches only
    // the request that caused it.
    std::vector<Prefilled> prefilled;
    if (fresh.size() > 1) {
      std::vector<at::Tensor> prompts;
      for (const auto& l : fresh) prompts.push_back(prompt_of(l->job->spec()));
      try {
        prefilled = model_->prefill_together(prompts, kPrefillBatchTokens);
      } catch (const std::exception&) {
        prefilled.clear();
      }
    }
    for (size_t i = 0; i < fresh.size(); ++i)
      if (try_admit(*fresh[i], prefilled.empty() ? nullptr : &prefilled[i])) live.push_back(std::move(fresh[i]));
    // 2. tick: one token for every live request, the streams stepped together.
    std::vector<Live*> group;
    for (auto& l : live) {
      if (l->job->cancelled()) {
        l->drop = true;
        continue;
      }
      try {
        l->stream->check_next_step();
      } catch (const Error& e) {  // a model limit this request ran into, e.g. GPT-2's n_positions
        l->job->fail(400, e.what());
        l->drop = true;
        continue;
      }
      emit(*l);
      group.push_back(l.get());
    }
    if (!group.empty()) {
      try {
        step(group);
      } catch (const std::exception& e) {  // not a request's limit (those were checked): every stream in it is suspect
        const bool checked = dynamic_cast<const Error*>(&e) != nullptr;
        for (Live* l : group) {
          l->job->fail(checked ? 400 : 500, std::string("generation failed: ") + e.what());
          l->drop = true;
        }
      }
    }
    // 3. leave: finished requests retire (their stream kept as a session if asked), dropped ones go.
    // Their handlers are told only after the gauges are published, so a client that reads /metrics
    // after its reply sees the tick it finished in.
    std::vector<Ending> endings;
    for (auto& l : live) {
      if (l->drop) {
        if (!l->session_id.empty()) busy_sessions_.erase(l->session_id);
        l->job->fail(499, "cancelled");
        continue;
      }
      if (!finished(*l)) continue;
      try {
        endings.push_back(retire(*l));
      } catch (const std::exception& e) {  // e.g. a full disk while evicting a session
        l->job->fail(500, std::string("keeping the session failed: ") + e.what());
      }
      l->drop = true;
    }
    live.erase(std::remove_if(live.begin(), live.end(), [](const auto& l) { return l->drop; }), live.end());
    publish_gauges(live);
    for (const auto& e : endings) e.job->finish(e.finish_reason, e.session_id, e.state_bytes, e.position);
  }
  for (auto& l : live) l->job->fail(503, "the server is shutting down");
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& job : queue_) job->fail(503, "the server is shutting down");
  queue_.clear();
}

}  // namespace scanlab::serve
