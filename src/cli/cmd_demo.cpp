// `scanlab demo`: the scan engine's duality demonstration on an embedded default.
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "demos/duality_demo.h"

namespace scanlab::cli {

void register_demo(CLI::App& root, GlobalContext& ctx) {
  auto opts = std::make_shared<demos::DualityDemoOptions>();
  auto* cmd = root.add_subcommand("demo", "Show that the parallel prefix scan and the online scanner agree");
  cmd->add_option("--chunks", opts->chunks, "number of chunk states")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--batch", opts->batch, "batch size")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--dim", opts->dim, "state width")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->callback([opts, &ctx] {
    const auto device = apply_runtime(ctx.runtime);
    opts->seed = ctx.runtime.seed;
    std::cout << demos::format_duality_report(demos::run_duality_demo(*opts, device));
  });
}

}  // namespace scanlab::cli
