// An in-process `scanlab serve` on an ephemeral loopback port with a tiny random-init
// Transformer-PSM (byte vocabulary, chunk-local positions so streams are unbounded), plus an
// httplib client and an SSE body splitter for the tests in this folder.
#pragma once
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "infer/generate.h"
#include "models/checkpoint.h"
#include "models/registry.h"
#include "serve/server.h"
#include "tokenize/tokenizer.h"

namespace scanlab::serve::testing {

inline std::shared_ptr<models::SequenceModel> tiny_byte_model() {
  at::manual_seed(11);
  auto config = models::find_model("transformer_psm").small_config();
  config["vocab_size"] = 256;
  config["position_mode"] = "chunk_local";
  auto model = models::make_model(config);
  model->eval();
  return model;
}

// The model file's weights SHA-1 of `model` (what `scanlab serve` binds its sessions on disk to).
inline std::string weights_sha1_of(const models::SequenceModel& model) {
  return models::from_safetensors(models::checkpoint_of(model), "test model").weights_sha1;
}

// Greedy (or seeded) tokens of infer::generate on the same model: the reference a reply must equal.
inline std::vector<int64_t> reference_tokens(models::SequenceModel& model, const std::vector<int64_t>& prompt,
                                             int64_t n, double temperature = 0, uint64_t seed = 0) {
  infer::GenerateOptions opts;
  opts.max_new_tokens = n;
  opts.sampling.temperature = temperature;
  opts.seed = seed;
  auto r = infer::generate(model, at::tensor(prompt, at::kLong).unsqueeze(0), opts, nullptr);
  std::vector<int64_t> out;
  for (int64_t i = 0; i < n; ++i) out.push_back(r.tokens[0][i].item<int64_t>());
  return out;
}

inline std::vector<int64_t> bytes_of(const std::string& text) { return tokenize::ByteTokenizer().encode(text); }

class ServeTest : public ::testing::Test {
 protected:
  void start(ServerOptions opts = {}) {
    opts.host = "127.0.0.1";
    opts.port = 0;  // any free port: parallel test runs never collide
    server_ = std::make_unique<Server>(model_, opts);
    port_ = server_->bind();
    thread_ = std::thread([this] { server_->run(); });
  }
  void TearDown() override {
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
  }
  httplib::Result post(const std::string& path, const std::string& body) {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(120, 0);
    return c.Post(path.c_str(), body, "application/json");
  }
  httplib::Result get(const std::string& path) {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(120, 0);
    return c.Get(path.c_str());
  }

  std::shared_ptr<models::SequenceModel> model_ = tiny_byte_model();
  std::unique_ptr<Server> server_;
  std::thread thread_;
  int port_ = 0;
};

// Splits an SSE body into its events' data; fails the test on framing errors.
inline std::vector<std::string> sse_events(const std::string& body) {
  std::vector<std::string> data;
  size_t at = 0;
  while (at < body.size()) {
    const size_t end = body.find("\n\n", at);
    if (end == std::string::npos) {
      ADD_FAILURE() << "SSE body does not end with a blank line after its last event: " << body.substr(at);
      break;
    }
    const std::string event = body.substr(at, end - at);
    if (event.rfind("data: ", 0) != 0) ADD_FAILURE() << "SSE event without 'data: ': " << event;
    data.push_back(event.substr(6));
    at = end + 2;
  }
  return data;
}

}  // namespace scanlab::serve::testing
