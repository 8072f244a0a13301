// scanlab: sequential-parallel duality toolkit. `scanlab --help` lists the subcommands.
#include <cctype>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <c10/util/Exception.h>

#include "cli/commands.h"
#include "core/check.h"
#include "core/runtime.h"

namespace {

// CLI11 checks required options before it reports arguments nobody takes, so `train --no-such-flag`
// said "--config is required". The first flag that no command on the parsed path knows is the
// more useful message: found here, with the subcommands CLI11 selected before it stopped.
std::optional<std::string> first_unknown_flag(CLI::App& app, int argc, char** argv) {
  std::vector<CLI::App*> path{&app};
  for (CLI::App* sub = &app;;) {
    const auto chosen = sub->get_subcommands();
    if (chosen.empty()) break;
    sub = chosen.front();
    path.push_back(sub);
  }
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") break;
    if (arg.size() < 2 || arg[0] != '-' || (arg[1] != '-' && std::isdigit(static_cast<unsigned char>(arg[1]))))
      continue;
    arg = arg.substr(0, arg.find('='));
    if (arg.size() > 2 && arg[1] != '-') arg = arg.substr(0, 2);  // -r5: the short flag -r
    bool known = false;
    for (CLI::App* a : path) known = known || a->get_option_no_throw(arg) != nullptr;
    if (!known) return arg;
  }
  return std::nullopt;
}

// `scanlab teleport` made CLI11 say "A subcommand is required": the first word that is neither a
// global flag nor its value, when no subcommand took it, is the one to name.
std::optional<std::string> unknown_subcommand(CLI::App& app, int argc, char** argv) {
  if (!app.get_subcommands().empty()) return std::nullopt;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("-", 0) == 0) {
      if (arg.find('=') == std::string::npos) ++i;  // every global flag takes a value
      continue;
    }
    for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
      if (sub->check_name(arg)) return std::nullopt;
    return arg;
  }
  return std::nullopt;
}

// Parse errors as every other error: one line on stderr, exit code 2 (CLI11's own codes are 105+).
int parse_error(CLI::App& app, const CLI::ParseError& e, int argc, char** argv) {
  std::string message = e.what();
  if (dynamic_cast<const CLI::RequiredError*>(&e)) {
    if (auto flag = first_unknown_flag(app, argc, argv)) {
      message = "unknown option " + *flag;
    } else if (auto word = unknown_subcommand(app, argc, argv)) {
      message = "unknown subcommand '" + *word + "'; expected one of:";
      for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) message += " " + sub->get_name();
    }
  }
  std::cerr << "scanlab: error: " << message << " (see --help)\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"scanlab: models and algorithms that run in parallel when they learn and step by step when they serve"};
  app.require_subcommand(1);
  scanlab::cli::GlobalContext ctx;
  ctx.argv.assign(argv, argv + argc);
  app.add_option("--device", ctx.runtime.device, "cpu, cuda, cuda:N or auto (cuda when available)")
      ->capture_default_str()
      ->check([](const std::string& v) {
        if (v == "cpu" || v == "cuda" || v == "auto" || v.rfind("cuda:", 0) == 0) return std::string();
        return "'" + v + "' is not a device; expected cpu, cuda, cuda:N or auto";
      });
  // Bounded: a mistyped --threads 100000 spawned threads until the machine stalled.
  const int max_threads = 16 * scanlab::hardware_threads();
  app.add_option("--threads", ctx.runtime.threads, "CPU threads for torch (0 = all cores)")
      ->capture_default_str()
      ->check([max_threads](const std::string& v) {
        int n = -1;
        if (!CLI::detail::lexical_cast(v, n) || n < 0 || n > max_threads)
          return "got " + v + "; expected 0 (all cores) or 1.." + std::to_string(max_threads) +
                 " (16 x this machine's " + std::to_string(max_threads / 16) + " hardware threads)";
        return std::string();
      });
  // Checked as text: CLI11 would wrap "-1" or 2^64 into some other uint64 silently.
  app.add_option("--seed", ctx.runtime.seed, "random seed (0 .. 2^64 - 1)")
      ->capture_default_str()
      ->check([](const std::string& v) {
        const bool digits = !v.empty() && v.size() <= 20 && v.find_first_not_of("0123456789") == std::string::npos;
        if (digits && (v.size() < 20 || v <= "18446744073709551615")) return std::string();
        return "got " + v + "; expected an integer from 0 to 18446744073709551615";
      });

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
  scanlab::cli::register_train_demo(app, ctx);
  scanlab::cli::register_report(app, ctx);
  scanlab::cli::register_sweep(app, ctx);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return parse_error(app, e, argc, argv);
  } catch (const scanlab::Error& e) {
    std::cerr << "scanlab: error: " << e.what() << "\n";
    return 2;
  } catch (const std::filesystem::filesystem_error& e) {  // names the path and the reason
    std::cerr << "scanlab: error: " << e.what() << "\n";
    return 2;
  } catch (const c10::Error& e) {  // one line, not torch's backtrace
    const std::string what = e.what_without_backtrace();
    std::cerr << "scanlab: unexpected error (in torch): " << what.substr(0, what.find('\n')) << "\n";
    return 3;
  } catch (const std::exception& e) {
    std::cerr << "scanlab: unexpected error: " << e.what() << "\n";
    return 3;
  }
  return ctx.exit_code;
}
