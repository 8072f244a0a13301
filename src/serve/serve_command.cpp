#include "serve/serve_command.h"

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <thread>

#include "core/check.h"
#include "models/checkpoint.h"
#include "tokenize/tokenizer.h"

namespace scanlab::serve {
namespace {

volatile std::sig_atomic_t g_signal = 0;
void on_stop_signal(int sig) { g_signal = sig; }

}  // namespace

void run_serve_command(const ServeCommandOptions& opts, c10::Device device, std::ostream& log) {
  // The handler only records the signal; a watcher thread polls it and stops the server from a
  // normal thread, since almost nothing is safe inside a handler. (Any thread may receive the
  // signal, including LibTorch's workers, so a flag works where blocking it per thread would not.)
  struct sigaction action {
  }, old_int{}, old_term{};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  g_signal = 0;
  sigaction(SIGINT, &action, &old_int);
  sigaction(SIGTERM, &action, &old_term);
  struct RestoreHandlers {
    struct sigaction i, t;
    ~RestoreHandlers() {
      sigaction(SIGINT, &i, nullptr);
      sigaction(SIGTERM, &t, nullptr);
    }
  } restore{old_int, old_term};

  const models::ModelFile file = models::read_model_file(opts.checkpoint);
  auto model = models::load_model(file, opts.checkpoint, device);
  ServerOptions server_opts = opts.server;
  // Text in and out is byte-level here; a model of ids (or a GPT-2 BPE one) takes and returns ids.
  server_opts.byte_text = file.tokenizer.value("kind", std::string()) == "byte";
  server_opts.end_token = tokenize::end_of_text_id(file.tokenizer);  // GPT-2 BPE's <|endoftext|>
  server_opts.model_sha1 = file.weights_sha1;                        // sessions on disk are bound to these weights
  Server server(model, server_opts);
  const int port = server.bind();
  log << fmt::format("scanlab serve: {} (vocab {}) listening on http://{}:{}\n", model->kind(), model->vocab_size(),
                     opts.server.host, port);
  log.flush();
  std::atomic<bool> finished{false};
  std::thread watcher([&] {
    while (!finished) {
      if (const int sig = g_signal) {
        log << fmt::format("scanlab serve: {}, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
        log.flush();
        server.stop();
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  server.run();
  finished = true;
  watcher.join();
  server.stop();
}

}  // namespace scanlab::serve
