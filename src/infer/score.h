// `scanlab score`: next-token negative log-likelihood of a token sequence under a checkpoint,
// evaluated in parallel (forward) or streaming (one step per token), so the two evaluation paths
// of the same model can be compared on real input. NLL is the mean over positions 0..T-2 of
// -log p(token[t+1] | tokens[0..t]); perplexity = exp(NLL).
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <string>

namespace scanlab::infer {

struct ScoreOptions {
  std::string checkpoint;
  std::string text_file;          // text, through the tokenizer the model file carries
  std::string bpe_dir;            // GPT-2 tokenizer files (empty: tokenize::kDefaultBpeDir)
  std::string tokens_file;        // whitespace-separated ids
  std::string mode = "parallel";  // parallel | stream
  std::string dump_logits;        // optional: safetensors file with "logits" [T, V] and "tokens" [T]
};

struct ScoreReport {
  std::string model, mode;
  int64_t tokens = 0, predicted = 0;
  double mean_nll = 0, perplexity = 0;
  // Stream mode only: the stream's state (caches, stored chunk states) at the end and at its largest.
  int64_t state_bytes_final = 0, state_bytes_max = 0;
  double seconds = 0;  // wall time of the evaluation (model load excluded)
};

ScoreReport score(const ScoreOptions& o, const at::Device& device);
std::string format_score_report(const ScoreReport& r);

}  // namespace scanlab::infer
