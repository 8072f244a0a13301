// scanlab: sequential-parallel duality toolkit. `scanlab --help` lists the subcommands.
#include <cstdio>
#include <exception>
#include <iostream>

#include "cli/commands.h"
#include "core/check.h"

int main(int argc, char** argv) {
  CLI::App app{"scanlab: models and algorithms that run in parallel when they learn and step by step when they serve"};
  app.require_subcommand(1);
  scanlab::cli::GlobalContext ctx;
  app.add_option("--device", ctx.runtime.device, "cpu, cuda, cuda:N or auto (cuda when available)")
      ->capture_default_str()
      ->check([](const std::string& v) {
        if (v == "cpu" || v == "cuda" || v == "auto" || v.rfind("cuda:", 0) == 0) return std::string();
        return "'" + v + "' is not a device; expected cpu, cuda, cuda:N or auto";
      });
  app.add_option("--threads", ctx.runtime.threads, "CPU threads for torch (0 = all cores)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--seed", ctx.runtime.seed, "random seed")->capture_default_str();

  scanlab::cli::register_demo(app, ctx);
  scanlab::cli::register_bench(app, ctx);
  scanlab::cli::register_init_model(app, ctx);
  scanlab::cli::register_export(app, ctx);
  scanlab::cli::register_import_hf(app, ctx);
  scanlab::cli::register_score(app, ctx);
  scanlab::cli::register_generate(app, ctx);
  scanlab::cli::register_serve(app, ctx);
  scanlab::cli::register_nar(app, ctx);
  scanlab::cli::register_train(app, ctx);
  scanlab::cli::register_eval(app, ctx);
  scanlab::cli::register_plot(app, ctx);
  scanlab::cli::register_mqar_demo(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const scanlab::Error& e) {
    std::cerr << "scanlab: error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "scanlab: unexpected error: " << e.what() << "\n";
    return 3;
  }
  return 0;
}
