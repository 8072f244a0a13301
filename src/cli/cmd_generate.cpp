// `scanlab generate`: stream tokens from a checkpoint, one at a time.
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "infer/generate_command.h"

namespace scanlab::cli {

void register_generate(CLI::App& root, GlobalContext& ctx) {
  auto opts = std::make_shared<infer::GenerateCommandOptions>();
  auto* cmd = root.add_subcommand("generate", "Prefill a prompt in parallel, then stream new tokens one at a time");
  cmd->add_option("--checkpoint", opts->checkpoint, "model file or training checkpoint (init-model, train, export)")
      ->required()
      ->check(CLI::ExistingFile);
  auto* text = cmd->add_option("--prompt", opts->prompt, "prompt text, through the tokenizer the model file carries");
  auto* ids = cmd->add_option("--prompt-tokens", opts->prompt_tokens_file, "file of whitespace-separated token ids")
                  ->check(CLI::ExistingFile);
  text->excludes(ids);
  cmd->add_option("--max-new-tokens", opts->generate.max_new_tokens, "tokens to generate")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--dtype", opts->dtype, "weights as float32 or bfloat16 (states stay float32)")
      ->capture_default_str()
      ->check(CLI::IsMember({"float32", "bfloat16"}));
  cmd->add_option("--temperature", opts->generate.sampling.temperature, "0 = greedy (argmax)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-k", opts->generate.sampling.top_k, "keep the k most likely tokens (0 = off)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-p", opts->generate.sampling.top_p, "nucleus mass in (0, 1] (1 = off)")
      ->capture_default_str()
      ->check(CLI::Range(1e-9, 1.0));
  cmd->add_option("--output", opts->output, "text, ids or auto")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "text", "ids"}));
  cmd->add_flag("--cuda-graphs,!--no-cuda-graphs", opts->generate.cuda_graphs,
                "replay each decode step as one CUDA graph where the model allows (on by default; CUDA only)");
  cmd->add_flag("--boundary-overlap,!--no-boundary-overlap", opts->generate.boundary_overlap,
                "run a T-PSM's chunk-boundary Agg work on a second CUDA stream, overlapping the step (on by default)");
  cmd->add_flag("--stats", opts->stats, "report per-token latency (p50/p99/max), Agg steps and state bytes on stderr");
  cmd->add_option("--bpe-dir", opts->bpe_dir,
                  "folder with GPT-2's encoder.json and vocab.bpe for a GPT-2 BPE model (default data/cache/gpt2)");
  cmd->add_option("--save-state", opts->save_state, "save the stream at the end (safetensors)");
  cmd->add_option("--resume-state", opts->resume_state, "continue a stream saved with --save-state")
      ->check(CLI::ExistingFile);
  cmd->callback([opts, &ctx] {
    const auto device = apply_runtime(ctx.runtime);
    opts->generate.seed = ctx.runtime.seed;
    infer::run_generate_command(*opts, device, std::cout, std::cerr);
  });
}

}  // namespace scanlab::cli
