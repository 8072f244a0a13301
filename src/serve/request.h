// Request bodies of `scanlab serve`: OpenAI-style completion JSON parsed and validated before
// anything reaches the scheduler, so a bad request costs no model time. Every error names the field.
// Prompts are text (byte-level tokens, models with vocab_size >= 256) or lists of token ids.
#pragma once
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "infer/sampler.h"

namespace scanlab::serve {

// A request the server refuses: the HTTP status (400, 404, 409, 503, ...) and a message for the client.
class RequestError : public std::runtime_error {
 public:
  RequestError(int status, const std::string& message) : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

enum class RequestKind {
  Completion,  // POST /v1/completions: prompt required
  Continue,    // POST /v1/sessions/{id}/continue: prompt optional (appended), keep_session defaults to true
};

struct RequestLimits {
  int64_t vocab_size = 256;
  int64_t max_prompt_tokens = 4096;
  int64_t max_tokens = 4096;  // the largest max_tokens a request may ask for
  bool byte_text = true;      // text prompts are taken (the model file carries the byte-level tokenizer)
};

struct CompletionRequest {
  std::vector<int64_t> prompt;  // token ids; empty only for a continue without a prompt
  int64_t max_tokens = 16;      // OpenAI's default
  infer::SamplingOptions sampling;
  std::optional<uint64_t> seed;  // none: the server picks one
  bool stream = false;
  bool keep_session = false;
};

// Throws RequestError(400, "...<field>...") for malformed JSON, unknown fields, wrong types,
// out-of-range values, a prompt longer than the limit and ids outside the vocabulary.
CompletionRequest parse_request(const std::string& body, RequestKind kind, const RequestLimits& limits);

// {"error": {"message": ..., "type": ..., "code": status}} as the reply body of a refused request.
std::string error_body(int status, const std::string& message);

}  // namespace scanlab::serve
