// `scanlab serve`: an HTTP server for streaming generation (src/serve/README.md).
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "core/check.h"
#ifdef SCANLAB_WITH_SERVE
#include "serve/serve_command.h"
#endif

namespace scanlab::cli {

#ifdef SCANLAB_WITH_SERVE
void register_serve(CLI::App& root, GlobalContext& ctx) {
  auto opts = std::make_shared<serve::ServeCommandOptions>();
  auto& s = opts->server;
  auto* cmd = root.add_subcommand("serve", "HTTP server: OpenAI-style completions, SSE streaming, resumable sessions");
  cmd->add_option("--checkpoint", opts->checkpoint, "safetensors checkpoint (scanlab init-model or train)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--port", s.port, "TCP port (0 = any free port, printed at start)")
      ->required()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--host", s.host, "address to listen on")->capture_default_str();
  cmd->add_option("--max-batch", s.max_batch, "requests stepped together per tick; more wait in a queue")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-prompt-tokens", s.max_prompt_tokens, "longest prompt a request may send")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--session-bytes", s.session_bytes,
                  "memory for idle sessions; least recently used ones leave past it")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--session-dir", s.session_dir,
                  "evicted sessions are saved here and reloaded on continue (default: dropped)");
  cmd->callback([opts, &ctx] {
    const auto device = apply_runtime(ctx.runtime);
    serve::run_serve_command(*opts, device, std::cout);
  });
}
#else
void register_serve(CLI::App& root, GlobalContext&) {
  auto* cmd = root.add_subcommand("serve", "HTTP server (not built: needs libcpp-httplib-dev)");
  cmd->allow_extras();
  cmd->callback([] {
    SCANLAB_FAIL("this scanlab was built without cpp-httplib; install libcpp-httplib-dev and rebuild for `serve`");
  });
}
#endif

}  // namespace scanlab::cli
