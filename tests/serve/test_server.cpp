// `scanlab serve` end to end over loopback HTTP: replies equal infer::generate on the same model,
// SSE framing, sessions (continue == uninterrupted, eviction to --session-dir and back), bad input
// answered with 400/404 naming the field, a session file of another model or cut short failing only
// its request, finish_reason "stop" at the end token, a request at its
// position limit failing alone, and a bounded concurrent load.
#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <future>

#include "serve/sessions.h"
#include "serve_test_util.h"

namespace scanlab::serve::testing {
namespace {

using nlohmann::json;

std::vector<int64_t> ids_of(const json& reply) { return reply["choices"][0]["token_ids"].get<std::vector<int64_t>>(); }

TEST_F(ServeTest, HealthAndMetrics) {
  start();
  auto h = get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  auto j = json::parse(h->body);
  EXPECT_EQ(j["status"], "ok");
  EXPECT_EQ(j["vocab_size"], 256);
  ASSERT_TRUE(post("/v1/completions", R"({"prompt": "ab", "max_tokens": 5, "temperature": 0})"));
  auto m = get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 200);
  for (const char* line : {"scanlab_requests_total{code=\"200\"} 1\n", "scanlab_tokens_generated_total 5\n",
                           "scanlab_token_latency_ms{quantile=\"0.99\"}", "scanlab_tokens_per_second",
                           "scanlab_live_streams 0\n", "scanlab_state_bytes{where=\"live\"}"})
    EXPECT_NE(m->body.find(line), std::string::npos) << line << " missing from\n" << m->body;
}

TEST_F(ServeTest, GreedyCompletionEqualsGenerate) {
  const std::string prompt = "The scan runs in parallel";
  const auto expected = reference_tokens(*model_, bytes_of(prompt), 12);
  start();
  auto r = post("/v1/completions", json{{"prompt", prompt}, {"max_tokens", 12}, {"temperature", 0}}.dump());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = json::parse(r->body);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(ids_of(j), expected);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["prompt_tokens"], static_cast<int64_t>(prompt.size()));
  EXPECT_EQ(j["usage"]["completion_tokens"], 12);
  EXPECT_FALSE(j.contains("session"));
  // A prompt of ids gives the same reply as the same bytes as text.
  auto r2 = post("/v1/completions", json{{"prompt", bytes_of(prompt)}, {"max_tokens", 12}, {"temperature", 0}}.dump());
  ASSERT_TRUE(r2);
  EXPECT_EQ(ids_of(json::parse(r2->body)), expected);
}

TEST_F(ServeTest, SeededSamplingEqualsGenerateWithTheSameSeed) {
  const auto prompt = bytes_of("seeded");
  const auto expected = reference_tokens(*model_, prompt, 10, /*temperature=*/0.9, /*seed=*/1234);
  start();
  auto r = post("/v1/completions",
                json{{"prompt", prompt}, {"max_tokens", 10}, {"temperature", 0.9}, {"seed", 1234}}.dump());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(ids_of(json::parse(r->body)), expected);
}

TEST_F(ServeTest, StreamedEventsConcatenateToTheWholeReply) {
  start();
  const json req = {{"prompt", "Stream me"}, {"max_tokens", 9}, {"temperature", 0}};
  auto whole = post("/v1/completions", req.dump());
  json sreq = req;
  sreq["stream"] = true;
  auto streamed = post("/v1/completions", sreq.dump());
  ASSERT_TRUE(whole && streamed);
  ASSERT_EQ(streamed->status, 200) << streamed->body;
  EXPECT_EQ(streamed->get_header_value("Content-Type"), "text/event-stream");
  const auto events = sse_events(streamed->body);
  ASSERT_EQ(events.size(), 9u + 2u);  // one per token, the final one, [DONE]
  EXPECT_EQ(events.back(), "[DONE]");
  std::string text;
  std::vector<int64_t> ids;
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    auto e = json::parse(events[i]);
    text += e["choices"][0]["text"].get<std::string>();
    for (int64_t t : ids_of(e)) ids.push_back(t);
    EXPECT_EQ(e["choices"][0]["finish_reason"].is_null(), i + 2 < events.size()) << events[i];
  }
  auto w = json::parse(whole->body);
  EXPECT_EQ(ids, ids_of(w));
  EXPECT_EQ(text, w["choices"][0]["text"].get<std::string>());
  EXPECT_EQ(json::parse(events[events.size() - 2])["usage"]["completion_tokens"], 9);
}

TEST_F(ServeTest, ContinuedSessionEqualsUninterruptedGeneration) {
  const auto prompt = bytes_of("Once upon");
  const auto expected = reference_tokens(*model_, prompt, 6 + 10);
  start();
  auto first = post("/v1/completions",
                    json{{"prompt", prompt}, {"max_tokens", 6}, {"temperature", 0}, {"keep_session", true}}.dump());
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 200) << first->body;
  auto f = json::parse(first->body);
  ASSERT_TRUE(f.contains("session")) << first->body;
  const std::string id = f["session"]["id"];
  EXPECT_GT(f["session"]["state_bytes"].get<int64_t>(), 0);
  EXPECT_EQ(f["session"]["position"], static_cast<int64_t>(prompt.size() + 6));
  auto second = post("/v1/sessions/" + id + "/continue", R"({"max_tokens": 10, "temperature": 0})");
  ASSERT_TRUE(second);
  ASSERT_EQ(second->status, 200) << second->body;
  auto s = json::parse(second->body);
  auto got = ids_of(f);
  for (int64_t t : ids_of(s)) got.push_back(t);
  EXPECT_EQ(got, expected);
  EXPECT_EQ(s["session"]["id"], id);
  EXPECT_EQ(s["session"]["position"], static_cast<int64_t>(prompt.size() + 16));
  // keep_session false ends the session; a later continue finds nothing.
  auto third = post("/v1/sessions/" + id + "/continue", R"({"max_tokens": 2, "keep_session": false})");
  ASSERT_TRUE(third);
  EXPECT_EQ(third->status, 200) << third->body;
  auto gone = post("/v1/sessions/" + id + "/continue", R"({"max_tokens": 2})");
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->status, 404) << gone->body;
}

TEST_F(ServeTest, ContinueAppendsThePromptToTheSession) {
  const auto a = bytes_of("Left "), b = bytes_of("right");
  start();
  auto first = post("/v1/completions",
                    json{{"prompt", a}, {"max_tokens", 3}, {"temperature", 0}, {"keep_session", true}}.dump());
  ASSERT_TRUE(first);
  auto f = json::parse(first->body);
  std::vector<int64_t> whole = a;
  for (int64_t t : ids_of(f)) whole.push_back(t);
  whole.insert(whole.end(), b.begin(), b.end());
  const auto expected = reference_tokens(*model_, whole, 5);
  auto second = post("/v1/sessions/" + f["session"]["id"].get<std::string>() + "/continue",
                     json{{"prompt", "right"}, {"max_tokens", 5}, {"temperature", 0}}.dump());
  ASSERT_TRUE(second);
  ASSERT_EQ(second->status, 200) << second->body;
  EXPECT_EQ(ids_of(json::parse(second->body)), expected);
}

TEST_F(ServeTest, EvictedSessionsGoToDiskAndComeBack) {
  const auto dir = std::filesystem::temp_directory_path() / ("scanlab_serve_sessions_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  ServerOptions o;
  o.session_bytes = 1;  // every idle session is over budget: evicted as soon as it is kept
  o.session_dir = dir.string();
  o.model_sha1 = weights_sha1_of(*model_);
  const auto prompt = bytes_of("evict me");
  const auto expected = reference_tokens(*model_, prompt, 4 + 7);
  start(o);
  auto first = post("/v1/completions",
                    json{{"prompt", prompt}, {"max_tokens", 4}, {"temperature", 0}, {"keep_session", true}}.dump());
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 200) << first->body;
  auto f = json::parse(first->body);
  const std::string id = f["session"]["id"];
  EXPECT_TRUE(std::filesystem::exists(dir / (id + ".safetensors")));
  auto m = get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_NE(m->body.find("scanlab_sessions{where=\"disk\"} 1\n"), std::string::npos) << m->body;
  EXPECT_NE(m->body.find("scanlab_session_evictions_total 1\n"), std::string::npos) << m->body;
  auto second = post("/v1/sessions/" + id + "/continue", R"({"max_tokens": 7, "temperature": 0})");
  ASSERT_TRUE(second);
  ASSERT_EQ(second->status, 200) << second->body;
  auto got = ids_of(f);
  for (int64_t t : ids_of(json::parse(second->body))) got.push_back(t);
  EXPECT_EQ(got, expected);
  std::filesystem::remove_all(dir);
}

TEST_F(ServeTest, ASessionFileOfAnotherModelOrCutShortFailsOnlyThatRequest) {
  const auto dir = std::filesystem::temp_directory_path() / ("scanlab_serve_refused_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  ServerOptions o;
  o.session_bytes = 1;
  o.session_dir = (dir / "served").string();
  o.model_sha1 = weights_sha1_of(*model_);
  start(o);
  auto kept = [&] {
    auto r = post("/v1/completions", R"({"prompt": "keep", "max_tokens": 2, "temperature": 0, "keep_session": true})");
    EXPECT_TRUE(r && r->status == 200);
    return r ? json::parse(r->body)["session"]["id"].get<std::string>() : std::string();
  };
  // A session of another model (same config, other weights) where this one's was.
  at::manual_seed(12);
  auto other = models::make_model(model_->config());
  other->eval();
  SessionStore other_store(*other, weights_sha1_of(*other), 1, (dir / "other").string());
  auto [logits, stream] = other->prefill(at::tensor(bytes_of("other"), at::kLong).unsqueeze(0));
  other_store.put("x", Session{std::move(stream), logits.select(1, logits.size(1) - 1).clone()});
  const std::string a = kept();
  std::filesystem::copy_file(dir / "other" / "x.safetensors", dir / "served" / (a + ".safetensors"),
                             std::filesystem::copy_options::overwrite_existing);
  auto refused = post("/v1/sessions/" + a + "/continue", R"({"max_tokens": 2})");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 500);
  EXPECT_NE(refused->body.find("session '" + a + "'"), std::string::npos) << refused->body;
  EXPECT_NE(refused->body.find("saved by a model whose weights' SHA-1 is " + weights_sha1_of(*other)),
            std::string::npos)
      << refused->body;
  // A truncated one.
  const std::string b = kept();
  const auto file = dir / "served" / (b + ".safetensors");
  std::filesystem::resize_file(file, std::filesystem::file_size(file) / 2);
  auto cut = post("/v1/sessions/" + b + "/continue", R"({"max_tokens": 2})");
  ASSERT_TRUE(cut);
  EXPECT_EQ(cut->status, 500);
  EXPECT_NE(cut->body.find("session '" + b + "'"), std::string::npos) << cut->body;
  // The server goes on: health, a new request, and an intact session all still work.
  auto health = get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  const std::string c = kept();
  auto fine = post("/v1/sessions/" + c + "/continue", R"({"max_tokens": 2, "keep_session": false})");
  ASSERT_TRUE(fine);
  EXPECT_EQ(fine->status, 200) << fine->body;
  std::filesystem::remove_all(dir);
}

TEST_F(ServeTest, EvictionWithoutADirectoryDropsTheSession) {
  ServerOptions o;
  o.session_bytes = 0;
  start(o);
  auto first = post("/v1/completions", R"({"prompt": "x", "max_tokens": 2, "keep_session": true})");
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 200) << first->body;
  const std::string id = json::parse(first->body)["session"]["id"];
  auto second = post("/v1/sessions/" + id + "/continue", R"({"max_tokens": 2})");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 404) << second->body;
}

TEST_F(ServeTest, BadRequestsGet400NamingTheFieldAnd404ForUnknownSessions) {
  ServerOptions o;
  o.max_prompt_tokens = 8;
  start(o);
  struct Case {
    std::string body, needle;
  };
  const std::vector<Case> cases = {
      {"{\"prompt\": \"ab\"", "not valid JSON"},
      {"[1, 2]", "JSON object"},
      {R"({"prompt": "ab", "bogus": 1})", "'bogus'"},
      {R"({"max_tokens": 3})", "'prompt' is missing"},
      {R"({"prompt": 5})", "'prompt'"},
      {R"({"prompt": "ab", "max_tokens": "3"})", "'max_tokens' must be an integer"},
      {R"({"prompt": "ab", "max_tokens": 0})", "'max_tokens' = 0 is out of range"},
      {R"({"prompt": "ab", "max_tokens": 2.5})", "'max_tokens' must be an integer"},
      {R"({"prompt": "ab", "temperature": -1})", "'temperature'"},
      {R"({"prompt": "ab", "top_p": 1.5})", "'top_p'"},
      {R"({"prompt": "ab", "top_k": -2})", "'top_k'"},
      {R"({"prompt": "ab", "seed": -1})", "'seed'"},
      {R"({"prompt": "ab", "stream": "yes"})", "'stream' must be true or false"},
      {R"({"prompt": "ninebytes"})", "'prompt' has 9 tokens"},
      {R"({"prompt": [1, 256]})", "'prompt[1]' = 256 is outside the model's vocabulary [0, 256)"},
      {R"({"prompt": [1, -1]})", "'prompt[1]' = -1"},
      {R"({"prompt": []})", "'prompt' is empty"},
  };
  for (const auto& c : cases) {
    auto r = post("/v1/completions", c.body);
    ASSERT_TRUE(r) << c.body;
    EXPECT_EQ(r->status, 400) << c.body << " -> " << r->body;
    auto j = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(j.is_object() && j.contains("error")) << r->body;
    EXPECT_NE(j["error"]["message"].get<std::string>().find(c.needle), std::string::npos)
        << c.body << " -> " << r->body << " (expected '" << c.needle << "')";
  }
  auto unknown = post("/v1/sessions/sess-nosuch/continue", R"({"max_tokens": 2})");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  EXPECT_NE(unknown->body.find("unknown session 'sess-nosuch'"), std::string::npos) << unknown->body;
  auto bad_continue = post("/v1/sessions/sess-nosuch/continue", R"({"max_tokens": 2, "top_p": 0})");
  ASSERT_TRUE(bad_continue);
  EXPECT_EQ(bad_continue->status, 400) << bad_continue->body;
  httplib::Client form_client("127.0.0.1", port_);
  auto form = form_client.Post("/v1/completions", std::string(9000, 'a'), "application/x-www-form-urlencoded");
  ASSERT_TRUE(form);
  EXPECT_EQ(form->status, 413);
  EXPECT_NE(form->body.find("Content-Type: application/json"), std::string::npos) << form->body;
  auto route = get("/v1/nothing");
  ASSERT_TRUE(route);
  EXPECT_EQ(route->status, 404);
  EXPECT_NE(route->body.find("no route"), std::string::npos) << route->body;
  auto h = get("/health");  // still serving
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
}

TEST_F(ServeTest, ASmallVocabularyModelTakesIdsAndItsPositionLimitIsA400) {
  model_ = models::make_model(models::find_model("gpt2").small_config());  // vocab 37, n_positions 32
  model_->eval();
  const std::vector<int64_t> prompt = {1, 2, 3, 4};
  const auto expected = reference_tokens(*model_, prompt, 5);
  start();
  auto ok = post("/v1/completions", json{{"prompt", prompt}, {"max_tokens", 5}, {"temperature", 0}}.dump());
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status, 200) << ok->body;
  auto j = json::parse(ok->body);
  EXPECT_EQ(ids_of(j), expected);
  EXPECT_EQ(j["choices"][0]["text"], "");  // ids of a non-byte vocabulary have no text
  auto text = post("/v1/completions", R"({"prompt": "hi"})");
  ASSERT_TRUE(text);
  EXPECT_EQ(text->status, 400) << text->body;
  auto too_long = post("/v1/completions", json{{"prompt", prompt}, {"max_tokens", 40}, {"temperature", 0}}.dump());
  ASSERT_TRUE(too_long);
  EXPECT_EQ(too_long->status, 400) << too_long->body;
  EXPECT_NE(too_long->body.find("n_positions"), std::string::npos) << too_long->body;
}

// With an end token configured (a GPT-2 BPE model file's <|endoftext|>), a request that produces it
// ends there with finish_reason "stop", the end token its last id; plain and streamed alike. The
// end token here is one this model's greedy reply is known to produce.
TEST_F(ServeTest, TheEndTokenEndsARequestWithStop) {
  const std::string prompt = "Stop at the end";
  const auto reference = reference_tokens(*model_, bytes_of(prompt), 12);
  const int64_t end = reference[4];
  const auto first = std::find(reference.begin(), reference.end(), end);
  const std::vector<int64_t> expected(reference.begin(), first + 1);
  ServerOptions o;
  o.end_token = end;
  start(o);
  auto r = post("/v1/completions", json{{"prompt", prompt}, {"max_tokens", 12}, {"temperature", 0}}.dump());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = json::parse(r->body);
  EXPECT_EQ(ids_of(j), expected);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["usage"]["completion_tokens"], static_cast<int64_t>(expected.size()));
  auto streamed = post("/v1/completions",
                       json{{"prompt", prompt}, {"max_tokens", 12}, {"temperature", 0}, {"stream", true}}.dump());
  ASSERT_TRUE(streamed);
  const auto events = sse_events(streamed->body);
  ASSERT_EQ(events.size(), expected.size() + 2) << streamed->body;
  EXPECT_EQ(json::parse(events[events.size() - 2])["choices"][0]["finish_reason"], "stop");
  // Fewer tokens asked than it takes to reach the end token: "length".
  const int64_t short_max = static_cast<int64_t>(expected.size()) - 1;
  if (short_max >= 1) {
    auto cut = post("/v1/completions", json{{"prompt", prompt}, {"max_tokens", short_max}, {"temperature", 0}}.dump());
    ASSERT_TRUE(cut);
    EXPECT_EQ(json::parse(cut->body)["choices"][0]["finish_reason"], "length") << cut->body;
  }
}

// Requests step together, but a request at its model's limit (GPT-2's n_positions 32) fails alone
// with its 400 while the requests beside it finish with the tokens generate gives.
TEST_F(ServeTest, ARequestAtItsPositionLimitFailsAloneWhileOthersStepOn) {
  model_ = models::make_model(models::find_model("gpt2").small_config());
  model_->eval();
  const std::vector<int64_t> short_prompt = {1, 2, 3}, long_prompt(20, 5);
  const auto expected = reference_tokens(*model_, short_prompt, 20);
  start();
  std::vector<std::future<httplib::Result>> replies;
  for (int i = 0; i < 4; ++i)
    replies.push_back(std::async(std::launch::async, [&, i] {
      const auto& prompt = i == 0 ? long_prompt : short_prompt;
      return post("/v1/completions", json{{"prompt", prompt}, {"max_tokens", 20}, {"temperature", 0}}.dump());
    }));
  for (int i = 0; i < 4; ++i) {
    auto r = replies[i].get();
    ASSERT_TRUE(r);
    if (i == 0) {
      EXPECT_EQ(r->status, 400) << r->body;
      EXPECT_NE(r->body.find("n_positions"), std::string::npos) << r->body;
    } else {
      ASSERT_EQ(r->status, 200) << r->body;
      EXPECT_EQ(ids_of(json::parse(r->body)), expected);
    }
  }
}

TEST_F(ServeTest, ConcurrentClientsAllGetTheirTokens) {
  constexpr int kClients = 16, kRequestsEach = 2, kTokens = 16;
  const auto prompt = bytes_of("load");
  const auto expected = reference_tokens(*model_, prompt, kTokens);
  ServerOptions o;
  o.max_batch = 8;  // fewer places than clients: the queue and joins between ticks are exercised
  start(o);
  std::vector<std::future<std::vector<std::string>>> clients;
  for (int c = 0; c < kClients; ++c)
    clients.push_back(std::async(std::launch::async, [&, c] {
      std::vector<std::string> errors;
      for (int r = 0; r < kRequestsEach; ++r) {
        const bool stream = (c + r) % 2 == 1;
        auto res =
            post("/v1/completions",
                 json{{"prompt", prompt}, {"max_tokens", kTokens}, {"temperature", 0}, {"stream", stream}}.dump());
        if (!res || res->status != 200) {
          errors.push_back((res ? res->body : "no reply: " + httplib::to_string(res.error())) +
                           (stream ? " (stream)" : " (plain)"));
          continue;
        }
        std::vector<int64_t> ids;
        if (stream) {
          auto events = sse_events(res->body);
          for (size_t i = 0; i + 1 < events.size(); ++i)
            for (int64_t t : ids_of(json::parse(events[i]))) ids.push_back(t);
        } else {
          ids = ids_of(json::parse(res->body));
        }
        // Stepping together must not change any request's tokens.
        if (ids != expected) errors.push_back("client " + std::to_string(c) + ": tokens differ from generate");
      }
      return errors;
    }));
  for (auto& f : clients)
    for (const auto& e : f.get()) ADD_FAILURE() << e;
  auto m = get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_NE(m->body.find("scanlab_tokens_generated_total " + std::to_string(kClients * kRequestsEach * kTokens) + "\n"),
            std::string::npos)
      << m->body;
}

TEST_F(ServeTest, AClientThatHangsUpMidStreamIsDropped) {
  start();
  // A raw socket, so the test can hang up after the first bytes of a long stream.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port_));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string body = R"({"prompt": "hang up", "max_tokens": 4000, "stream": true})";
  const std::string req =
      "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  ASSERT_EQ(::send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  char buf[512];
  ASSERT_GT(::recv(fd, buf, sizeof buf, 0), 0);
  ::close(fd);
  // The handler counts the hang-up (status 499) and the scheduler drops the request at a later
  // tick; the server goes on serving.
  bool dropped = false;
  std::string scraped;
  for (int i = 0; i < 200 && !dropped; ++i) {
    auto r = get("/metrics");
    ASSERT_TRUE(r);
    scraped = r->body;
    dropped = scraped.find("scanlab_requests_total{code=\"499\"} 1\n") != std::string::npos &&
              scraped.find("scanlab_live_streams 0\n") != std::string::npos;
    if (!dropped) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(dropped) << "the hung-up stream is still live after 10 s:\n" << scraped;
  auto m = get("/metrics");
  ASSERT_TRUE(m);
  const std::string key = "\nscanlab_tokens_generated_total ";  // the sample line, not the # HELP line
  const size_t at = m->body.find(key);
  ASSERT_NE(at, std::string::npos);
  EXPECT_LT(std::stoll(m->body.substr(at + key.size())), 4000) << "the stream ran to its end instead of being dropped";
  auto r = post("/v1/completions", R"({"prompt": "after", "max_tokens": 3})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(ServeTest, StopEndsTheServerWhileClientsWait) {
  start();
  auto pending = std::async(std::launch::async, [&] {
    return post("/v1/completions", R"({"prompt": "long", "max_tokens": 4000, "temperature": 0, "stream": true})");
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  server_->stop();
  thread_.join();
  auto r = pending.get();  // ends (a 503 event or a cut stream), not a hang
  if (r) {
    EXPECT_EQ(r->status, 200);
  }
}

}  // namespace
}  // namespace scanlab::serve::testing
