// `scanlab nar sample|inspect|stats|list`: CLRS-style algorithm datasets. Parses flags only; the
// algorithms, samplers and file format live in src/nar/.
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "nar/algorithms/registry.h"
#include "nar/dataset_io.h"
#include "nar/stats.h"

namespace scanlab::cli {

void register_nar(CLI::App& root, GlobalContext& ctx) {
  auto* nar =
      root.add_subcommand("nar", "Algorithms that record hint trajectories (CLRS format): datasets and statistics");
  nar->require_subcommand(1);
  register_nar_training(*nar, ctx);  // train | eval | compare: cmd_nar_train.cpp

  auto req = std::make_shared<nar::SampleRequest>();
  auto* sample = nar->add_subcommand("sample", "Sample trajectories of one algorithm into a NumPy .npz file");
  sample->add_option("--algorithm", req->dataset.algorithm, "algorithm name (see `scanlab nar list`)")->required();
  auto* n = sample->add_option("--n", req->dataset.nodes, "nodes per sample (array length / graph size)")
                ->capture_default_str();
  auto* count = sample->add_option("--count", req->dataset.count, "number of samples")
                    ->capture_default_str()
                    ->check(CLI::PositiveNumber);
  auto* seed = sample->add_option("--seed", req->dataset.seed, "sampler seed (numpy RandomState seed, 0 to 2^32-1)")
                   ->capture_default_str();
  sample
      ->add_option("--split", req->split,
                   "CLRS30 split instead of --n/--count/--seed: train (1000 at n=16, seed 1), "
                   "val (32*multiplier at n=16, seed 2), test (32*multiplier at n=64, seed 3)")
      ->check(CLI::IsMember({"train", "val", "test"}))
      ->excludes(n)
      ->excludes(count)
      ->excludes(seed);
  sample->add_option("--out", req->out, "output .npz path (written atomically)")->required();
  sample->add_flag("--random-pos", req->dataset.random_pos, "replace `pos` by sorted U[0,1] draws (CLRS random_pos)");
  sample->add_flag("--pred-as-input", req->dataset.pred_as_input,
                   "move a constant `pred_h` hint to an input `pred` (algorithms CLRS applies it to)");
  sample->add_flag("--enforce-permutations", req->dataset.enforce_permutations,
                   "encode should_be_permutation outputs as permutation_pointer + <name>_mask");
  sample->callback([req] { std::cout << nar::format_dataset_summary(nar::sample_to_file(*req), req->out, "wrote"); });

  auto inspect_path = std::make_shared<std::string>();
  auto* inspect =
      nar->add_subcommand("inspect", "Read a dataset .npz back, validate every array against its spec, summarise it");
  inspect->add_option("file", *inspect_path, ".npz written by `scanlab nar sample`")->required();
  inspect->callback([inspect_path] {
    std::cout << nar::format_dataset_summary(nar::load_dataset(*inspect_path).batch, *inspect_path, "read");
  });

  auto stats_opts = std::make_shared<nar::StatsOptions>();
  auto* stats = nar->add_subcommand("stats", "Trajectory length (mean/max) and node/edge efficiency per algorithm");
  stats->add_option("--n", stats_opts->sizes, "node counts")->delimiter(',')->capture_default_str();
  stats->add_option("--count", stats_opts->count, "samples per algorithm and size")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  stats->add_option("--seed", stats_opts->seed, "sampler seed")->capture_default_str();
  stats->add_option("--algorithms", stats_opts->algorithms, "algorithms (default: all)")->delimiter(',');
  stats->callback([stats_opts] { std::cout << nar::format_stats(nar::compute_stats(*stats_opts), *stats_opts); });

  auto* list = nar->add_subcommand("list", "List the registered algorithms");
  list->callback([] { std::cout << nar::format_algorithm_table(); });
}

}  // namespace scanlab::cli
