// `scanlab serve`'s HTTP layer (cpp-httplib): routes, status codes and reply bodies. Requests are
// parsed (request.h) on the handler threads and handed to the one scheduler thread that owns the
// model (scheduler.h); handlers then wait on their job and write JSON or Server-Sent Events.
//   POST /v1/completions                 OpenAI-style completion, stream=true for SSE
//   POST /v1/sessions/{id}/continue      resume a kept session from its saved state
//   GET  /health                         {"status": "ok", ...}
//   GET  /metrics                        Prometheus text format (metrics.h)
// A refused request gets {"error": {"message": ...}} and 400 (404 for an unknown session or route);
// no request can stop the server.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "models/sequence_model.h"
#include "serve/metrics.h"

namespace scanlab::serve {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;         // 0: any free port (bind() says which)
  int64_t max_batch = 16;  // requests stepped together per tick
  int64_t max_prompt_tokens = 4096;
  int64_t max_tokens = 4096;                 // the largest max_tokens a request may ask for
  int64_t session_bytes = int64_t{1} << 30;  // memory for idle sessions (LRU eviction past it)
  std::string session_dir;                   // evicted sessions go here ("" = dropped)
  bool byte_text = true;                     // the model file's tokenizer is byte-level (else: ids only)
  std::optional<int64_t> end_token;          // the tokenizer's end of text: finish_reason "stop"
  std::string model_sha1;                    // models::ModelFile::weights_sha1; needed with session_dir
};

class Server {
 public:
  // The model is put in eval mode; from now on only the scheduler thread uses it.
  Server(std::shared_ptr<models::SequenceModel> model, ServerOptions opts);
  ~Server();
  // Binds host:port; returns the port (the chosen one for port 0). Throws scanlab::Error if it cannot.
  int bind();
  // Serves until stop(); call after bind().
  void run();
  // From any thread (a signal watcher, a test): ends live requests with 503, then the listener.
  void stop();
  const Metrics& metrics() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace scanlab::serve
