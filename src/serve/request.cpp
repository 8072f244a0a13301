#include "serve/request.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <set>

#include "core/check.h"
#include "tokenize/tokenizer.h"

namespace scanlab::serve {
namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& message) { throw RequestError(400, message); }

int64_t get_int(const json& v, const char* field, int64_t lo, int64_t hi) {
  // 3.0 is refused as well as "3": a count that arrives as a float is usually a client bug.
  if (!v.is_number_integer()) bad(detail::concat("'", field, "' must be an integer, got ", v.type_name()));
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi))
    bad(detail::concat("'", field, "' = ", v.dump(), " is out of range; expected ", lo, "..", hi));
  const int64_t x = v.get<int64_t>();
  if (x < lo || x > hi) bad(detail::concat("'", field, "' = ", x, " is out of range; expected ", lo, "..", hi));
  return x;
}

double get_number(const json& v, const char* field) {
  if (!v.is_number()) bad(detail::concat("'", field, "' must be a number, got ", v.type_name()));
  const double x = v.get<double>();
  if (!std::isfinite(x)) bad(detail::concat("'", field, "' must be finite"));
  return x;
}

bool get_bool(const json& v, const char* field) {
  if (!v.is_boolean()) bad(detail::concat("'", field, "' must be true or false, got ", v.type_name()));
  return v.get<bool>();
}

std::vector<int64_t> get_prompt(const json& v, const RequestLimits& limits) {
  std::vector<int64_t> ids;
  if (v.is_string()) {
    if (!limits.byte_text || limits.vocab_size < tokenize::ByteTokenizer().vocab_size())
      bad(detail::concat("'prompt' is text, but this model (vocabulary ", limits.vocab_size,
                         ") carries no byte-level tokenizer; send 'prompt' as a list of token ids"));
    ids = tokenize::ByteTokenizer().encode(v.get<std::string>());
  } else if (v.is_array()) {
    ids.reserve(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      const json& e = v[i];
      if (!e.is_number_integer())
        bad(detail::concat("'prompt[", i, "]' must be an integer token id, got ", e.type_name()));
      if (e.is_number_unsigned() ? e.get<uint64_t>() >= static_cast<uint64_t>(limits.vocab_size)
                                 : (e.get<int64_t>() < 0 || e.get<int64_t>() >= limits.vocab_size))
        bad(detail::concat("'prompt[", i, "]' = ", e.dump(), " is outside the model's vocabulary [0, ",
                           limits.vocab_size, ")"));
      ids.push_back(e.get<int64_t>());
    }
  } else {
    bad(detail::concat("'prompt' must be a string or a list of token ids, got ", v.type_name()));
  }
  if (static_cast<int64_t>(ids.size()) > limits.max_prompt_tokens)
    bad(detail::concat("'prompt' has ", ids.size(), " tokens; this server takes at most ", limits.max_prompt_tokens,
                       " (--max-prompt-tokens)"));
  return ids;
}

}  // namespace

CompletionRequest parse_request(const std::string& body, RequestKind kind, const RequestLimits& limits) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) bad("the request body is not valid JSON");
  if (!j.is_object()) bad(detail::concat("the request body must be a JSON object, got ", j.type_name()));
  // "model" is accepted and ignored: OpenAI clients always send it, and the server has one model.
  static const std::set<std::string> allowed = {"prompt", "max_tokens", "temperature",  "top_k", "top_p",
                                                "seed",   "stream",     "keep_session", "model"};
  for (const auto& [key, value] : j.items())
    if (!allowed.count(key))
      bad(detail::concat(
          "unknown field '", key,
          "'; allowed: prompt, max_tokens, temperature, top_k, top_p, seed, stream, keep_session, model"));

  CompletionRequest r;
  r.keep_session = kind == RequestKind::Continue;
  if (j.contains("prompt")) {
    r.prompt = get_prompt(j["prompt"], limits);
    if (kind == RequestKind::Completion && r.prompt.empty()) bad("'prompt' is empty; give at least one token");
  } else if (kind == RequestKind::Completion) {
    bad("'prompt' is missing (a string or a list of token ids)");
  }
  if (j.contains("model") && !j["model"].is_string())
    bad(detail::concat("'model' must be a string, got ", j["model"].type_name()));
  if (j.contains("max_tokens")) r.max_tokens = get_int(j["max_tokens"], "max_tokens", 1, limits.max_tokens);
  if (j.contains("temperature")) {
    r.sampling.temperature = get_number(j["temperature"], "temperature");
    if (r.sampling.temperature < 0)
      bad(detail::concat("'temperature' = ", r.sampling.temperature, " is out of range; expected >= 0 (0 = greedy)"));
  }
  if (j.contains("top_k")) r.sampling.top_k = get_int(j["top_k"], "top_k", 0, limits.vocab_size);
  if (j.contains("top_p")) {
    r.sampling.top_p = get_number(j["top_p"], "top_p");
    if (!(r.sampling.top_p > 0 && r.sampling.top_p <= 1))
      bad(detail::concat("'top_p' = ", r.sampling.top_p, " is out of range; expected a value in (0, 1]"));
  }
  if (j.contains("seed")) {
    const json& s = j["seed"];
    if (!s.is_number_unsigned()) bad(detail::concat("'seed' must be a non-negative integer, got ", s.dump()));
    r.seed = s.get<uint64_t>();
  }
  if (j.contains("stream")) r.stream = get_bool(j["stream"], "stream");
  if (j.contains("keep_session")) r.keep_session = get_bool(j["keep_session"], "keep_session");
  return r;
}

std::string error_body(int status, const std::string& message) {
  const char* type = status == 404 ? "not_found" : status >= 500 ? "server_error" : "invalid_request_error";
  json j = {{"error", {{"message", message}, {"type", type}, {"code", status}}}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace scanlab::serve
