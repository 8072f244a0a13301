// `scanlab train-demo`: the main job (a small Transformer-PSM and GPT-2 trained on a synthetic task on
// the CPU until a validation target; accuracy, through Agg and at longer lengths; streaming = parallel
// predictions; state bytes vs tokens).
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "demos/train_demo.h"
#include "train/run_log.h"

namespace scanlab::cli {

void register_train_demo(CLI::App& root, GlobalContext& ctx) {
  auto opts = std::make_shared<demos::TrainDemoOptions>();
  auto* cmd = root.add_subcommand("train-demo",
                                  "Train a small Transformer-PSM and GPT-2 to a target; accuracy through Agg and at "
                                  "longer lengths; stream = parallel; state bytes");
  cmd->add_option("--task", opts->task, "flip_flop (state tracking) or mqar (associative recall)")
      ->capture_default_str()
      ->check(CLI::IsMember({"flip_flop", "mqar"}));
  cmd->add_option("--steps", opts->steps, "most training steps per model (the cap)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--target-accuracy", opts->target_accuracy,
                  "stop a model once its validation accuracy reaches this (0 stops at the first evaluation)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--eval-every", opts->eval_every, "training steps between validation evaluations")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seq-len", opts->seq_len, "training sequence length")
      ->capture_default_str()
      ->check(CLI::Range(4, 4096));
  cmd->add_option("--values", opts->num_values, "flip_flop: values a write can set")
      ->capture_default_str()
      ->check(CLI::Range(2, 1024));
  cmd->add_option("--write-prob", opts->write_prob, "flip_flop: probability that an action is a write")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 1.0));
  cmd->add_option("--pairs", opts->num_kv_pairs, "mqar: key-value pairs")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--vocab", opts->vocab_size, "mqar: vocabulary size")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--lr", opts->lr, "peak learning rate")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--batch", opts->batch_size, "examples per step")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--width", opts->width, "model width (n_embd)")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--chunk", opts->chunk_size, "Transformer-PSM chunk size")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--eval-examples", opts->eval_examples, "validation examples")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--lengths", opts->lengths,
                  "also score at these sequence lengths (length generalisation; empty: none)")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--state-tokens", opts->state_tokens, "tokens streamed for the state-bytes table")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--models", opts->models, "models to train (registry names)")->delimiter(',')->capture_default_str();
  cmd->add_option("--out", opts->out_dir, "run folder (checkpoints, metrics)")->capture_default_str();
  cmd->add_flag("--progress", opts->progress, "draw progress bars even when stderr is not a terminal");
  cmd->callback([opts, &ctx] {
    const auto device = apply_runtime(ctx.runtime);
    opts->seed = ctx.runtime.seed;
    opts->progress = opts->progress || train::stderr_is_tty();
    std::cout << demos::format_train_demo(*opts, demos::run_train_demo(*opts, device));
  });
}

}  // namespace scanlab::cli
