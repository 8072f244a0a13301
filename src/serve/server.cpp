#include "serve/server.h"

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <random>
#include <thread>

#include "core/check.h"
#include "serve/request.h"
#include "serve/scheduler.h"
#include "tokenize/tokenizer.h"

namespace scanlab::serve {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

constexpr int kListenBacklog = 1024;  // capped by net.core.somaxconn

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

struct Server::Impl {
  Impl(std::shared_ptr<models::SequenceModel> m, ServerOptions o)
      : model(std::move(m)),
        opts(std::move(o)),
        kind(model->kind()),
        vocab(model->vocab_size()),
        byte_text(opts.byte_text && vocab >= tokenize::ByteTokenizer().vocab_size()),
        scheduler(
            model,
            SchedulerOptions{opts.max_batch, opts.session_bytes, opts.session_dir, opts.end_token, opts.model_sha1},
            metrics) {
    // Every request holds a handler thread until its reply ends, so the pool is sized to the batch
    // plus a few for /health, /metrics and requests waiting in the queue.
    const size_t threads = static_cast<size_t>(opts.max_batch) + 8;
    http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    http.set_payload_max_length(size_t{16} << 20);
    // Debian's libcpp-httplib listens with a backlog of 5 (compiled in); a burst of clients beyond
    // that overflows the accept queue and some connections die unanswered. The listening socket is
    // recorded here (httplib applies these options to it before bind) so bind() can widen it.
    http.set_socket_options([this](socket_t sock) {
      httplib::default_socket_options(sock);
      listen_socket = sock;
    });
    http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(dump({{"status", "ok"}, {"model", kind}, {"vocab_size", vocab}}), "application/json");
    });
    http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics.prometheus(), "text/plain; version=0.0.4");
    });
    http.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
      guarded(res, [&] { completion(req, res, RequestKind::Completion, ""); });
    });
    http.Post(R"(/v1/sessions/([A-Za-z0-9_-]{1,64})/continue)",
              [this](const httplib::Request& req, httplib::Response& res) {
                guarded(res, [&] { completion(req, res, RequestKind::Continue, req.matches[1].str()); });
              });
    // Unknown routes (and other errors httplib answers itself) get the same JSON error shape.
    http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      std::string msg = fmt::format("HTTP {}", res.status);
      if (res.status == 404) msg = fmt::format("no route for {} {}", req.method, req.path);
      // httplib caps form-encoded bodies at 8 KiB, and curl -d sends that content type by default.
      if (res.status == 413)
        msg =
            "the request body is too large (16 MiB at most; a body sent as application/x-www-form-urlencoded, "
            "curl -d's default, at most 8 KiB: send Content-Type: application/json)";
      res.set_content(error_body(res.status, msg), "application/json");
    });
  }

  void reply_error(httplib::Response& res, int status, const std::string& message) {
    res.status = status;
    res.set_content(error_body(status, message), "application/json");
    metrics.request_done(status);
  }

  template <class F>
  void guarded(httplib::Response& res, F&& f) {
    try {
      f();
    } catch (const RequestError& e) {
      reply_error(res, e.status(), e.what());
    } catch (const std::exception& e) {
      reply_error(res, 500, std::string("internal error: ") + e.what());
    }
  }

  json reply_json(const std::string& id, const std::vector<int64_t>& ids, const std::string& text,
                  const char* finish_reason, const Job::Progress* end) {
    json choice = {{"index", 0}, {"text", text}, {"token_ids", ids}, {"finish_reason", nullptr}};
    if (finish_reason) choice["finish_reason"] = finish_reason;
    json j = {
        {"id", id},
        {"object", "text_completion"},
        {"created",
         std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count()},
        {"model", kind},
        {"choices", json::array({choice})}};
    if (end) {
      j["usage"] = {{"prompt_tokens", end->prompt_tokens},
                    {"completion_tokens", completion_tokens(*end)},
                    {"total_tokens", end->prompt_tokens + completion_tokens(*end)}};
      if (!end->session_id.empty())
        j["session"] = {{"id", end->session_id}, {"state_bytes", end->state_bytes}, {"position", end->position}};
    }
    return j;
  }
  static int64_t completion_tokens(const Job::Progress& p) { return static_cast<int64_t>(p.ids.size()); }

  // The client hung up (or a write failed): count it, then stop generating for it. Counted first,
  // so a scrape that sees the stream gone also sees the count.
  void hang_up(const std::shared_ptr<Job>& job, bool& counted) {
    if (!counted) metrics.request_done(499);  // nginx's "client closed request"
    counted = true;
    job->cancel();
  }

  void completion(const httplib::Request& req, httplib::Response& res, RequestKind kind_of_request,
                  const std::string& session_id) {
    const CompletionRequest r = parse_request(req.body, kind_of_request,
                                              RequestLimits{vocab, opts.max_prompt_tokens, opts.max_tokens, byte_text});
    JobSpec spec;
    spec.prompt = r.prompt;
    spec.session_id = session_id;
    spec.max_tokens = r.max_tokens;
    spec.sampling = r.sampling;
    spec.seed = r.seed ? *r.seed : std::random_device{}();
    spec.keep_session = r.keep_session;
    auto job = std::make_shared<Job>(std::move(spec), byte_text);
    scheduler.submit(job);
    // The status line depends on admission (404 for an unknown session...), so wait for it first.
    Job::Progress p = job->wait(Job::Until::Started, 0, milliseconds(1000));
    while (!p.started && !p.done) p = job->wait(Job::Until::Started, 0, milliseconds(1000));
    if (p.error_status) return reply_error(res, p.error_status, p.error);
    const std::string id = fmt::format("cmpl-{}", ++next_id);

    if (!r.stream) {
      while (!p.done) p = job->wait(Job::Until::Done, 0, milliseconds(1000));
      p = job->wait(Job::Until::Done, 0, milliseconds(0));  // every token, from index 0
      if (p.error_status) return reply_error(res, p.error_status, p.error);
      std::string text;
      for (const auto& piece : p.pieces) text += piece;
      text += p.tail;
      res.set_content(dump(reply_json(id, p.ids, text, p.finish_reason.c_str(), &p)), "application/json");
      metrics.request_done(200);
      return;
    }
    // Server-Sent Events: one event per token as it is generated, then one with the held-back text,
    // the finish reason, usage and session, then [DONE]. The provider runs on this handler thread
    // after the handler returns and is called again until it calls sink.done().
    res.set_header("Cache-Control", "no-cache");
    auto sent = std::make_shared<size_t>(0);
    auto all = std::make_shared<std::vector<int64_t>>();
    auto counted = std::make_shared<bool>(false);  // request_done called (once per request)
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, job, id, sent, all, counted](size_t, httplib::DataSink& sink) {
          Job::Progress q = job->wait(Job::Until::MoreTokens, *sent, milliseconds(200));
          for (size_t i = 0; i < q.ids.size(); ++i) {
            const std::string event =
                "data: " + dump(reply_json(id, {q.ids[i]}, q.pieces[i], nullptr, nullptr)) + "\n\n";
            if (!sink.write(event.data(), event.size())) {
              hang_up(job, *counted);
              return false;
            }
          }
          *sent += q.ids.size();
          all->insert(all->end(), q.ids.begin(), q.ids.end());
          if (!q.done) return true;
          std::string last;
          if (q.error_status) {
            last = "data: " + error_body(q.error_status, q.error) + "\n\n";
          } else {
            q.ids = *all;  // usage counts every token of the request
            json j = reply_json(id, {}, q.tail, q.finish_reason.c_str(), &q);
            last = "data: " + dump(j) + "\n\n";
          }
          last += "data: [DONE]\n\n";
          *counted = true;
          metrics.request_done(q.error_status ? q.error_status : 200);
          if (!sink.write(last.data(), last.size())) return false;
          sink.done();
          return true;
        },
        [this, job, counted](bool success) {
          if (!success) hang_up(job, *counted);
        });
  }

  std::shared_ptr<models::SequenceModel> model;
  ServerOptions opts;
  std::string kind;
  int64_t vocab;
  bool byte_text;
  Metrics metrics;
  Scheduler scheduler;
  httplib::Server http;
  std::atomic<int64_t> next_id{0};
  socket_t listen_socket = INVALID_SOCKET;
  std::atomic<bool> stopping{false}, running{false};
};

Server::Server(std::shared_ptr<models::SequenceModel> model, ServerOptions opts) {
  SCANLAB_CHECK(model, "serve: no model");
  SCANLAB_CHECK(opts.max_prompt_tokens >= 1, "--max-prompt-tokens ", opts.max_prompt_tokens, ": expected at least 1");
  model->eval();
  impl_ = std::make_unique<Impl>(std::move(model), std::move(opts));
}

Server::~Server() { stop(); }

int Server::bind() {
  auto& o = impl_->opts;
  SCANLAB_CHECK(o.port >= 0 && o.port <= 65535, "--port ", o.port, ": expected 0..65535 (0 = any free port)");
  int port = o.port;
  if (o.port == 0) {
    port = impl_->http.bind_to_any_port(o.host);
    SCANLAB_CHECK(port > 0, "cannot bind ", o.host, " to any port");
  } else {
    SCANLAB_CHECK(impl_->http.bind_to_port(o.host, o.port), "cannot bind ", o.host, ":", o.port,
                  " (in use, or not an address of this machine?)");
  }
  // listen() again on a listening socket only resizes its accept queue (Linux, BSD).
  if (impl_->listen_socket != INVALID_SOCKET) ::listen(impl_->listen_socket, kListenBacklog);
  return port;
}

void Server::run() {
  impl_->running = true;
  if (!impl_->stopping) impl_->http.listen_after_bind();
  impl_->running = false;
}

void Server::stop() {
  if (!impl_ || impl_->stopping.exchange(true)) return;
  // The scheduler first: it ends every waiting handler, so the listener's thread pool can join.
  impl_->scheduler.stop();
  // run() may be between its start and httplib's listen loop; httplib's stop() only acts once that runs.
  while (impl_->running && !impl_->http.is_running()) std::this_thread::sleep_for(milliseconds(1));
  impl_->http.stop();
}

const Metrics& Server::metrics() const { return impl_->metrics; }

}  // namespace scanlab::serve
