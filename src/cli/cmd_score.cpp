// `scanlab score`: mean next-token NLL and perplexity of a file under a checkpoint.
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "infer/score.h"

namespace scanlab::cli {

void register_score(CLI::App& root, GlobalContext& ctx) {
  auto opts = std::make_shared<infer::ScoreOptions>();
  auto* cmd = root.add_subcommand("score", "Mean next-token NLL and perplexity of a token file under a checkpoint");
  cmd->add_option("--checkpoint", opts->checkpoint, "model file or training checkpoint (init-model, train, export)")
      ->required()
      ->check(CLI::ExistingFile);
  auto* text = cmd->add_option("--text", opts->text_file, "text file, through the tokenizer the model file carries")
                   ->check(CLI::ExistingFile);
  auto* ids = cmd->add_option("--tokens", opts->tokens_file, "file of whitespace-separated token ids")
                  ->check(CLI::ExistingFile);
  text->excludes(ids);
  ids->excludes(text);
  cmd->add_option("--mode", opts->mode, "parallel (one forward) or stream (one step per token)")
      ->capture_default_str()
      ->check(CLI::IsMember({"parallel", "stream"}));
  cmd->add_option("--bpe-dir", opts->bpe_dir,
                  "folder with GPT-2's encoder.json and vocab.bpe for a GPT-2 BPE model (default data/cache/gpt2)");
  cmd->add_option("--dump-logits", opts->dump_logits, "write logits [T, V] and tokens [T] to this safetensors file");
  cmd->callback([opts, &ctx] {
    const auto device = apply_runtime(ctx.runtime);
    std::cout << infer::format_score_report(infer::score(*opts, device));
  });
}

}  // namespace scanlab::cli
