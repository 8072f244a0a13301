// `scanlab generate` as a library call: load a checkpoint, tokenize the prompt, stream tokens to
// an output stream as they are produced, optionally report latency statistics and save the stream.
#pragma once
#include <c10/core/Device.h>

#include <ostream>
#include <string>

#include "infer/generate.h"

namespace scanlab::infer {

struct GenerateCommandOptions {
  std::string checkpoint;
  std::string prompt;              // text, through the tokenizer the model file carries
  std::string bpe_dir;             // GPT-2 tokenizer files (empty: tokenize::kDefaultBpeDir)
  std::string prompt_tokens_file;  // whitespace-separated ids
  std::string output = "auto";     // text | ids | auto (text when the model has a tokenizer and the prompt is text)
  bool stats = false;
  std::string save_state;         // write the stream here at the end (safetensors)
  std::string resume_state;       // continue a stream saved by --save-state
  std::string dtype = "float32";  // float32 | bfloat16 weights (recurrent states stay float32)
  GenerateOptions generate;
};

// Tokens go to `out` as they are produced; the statistics report (if asked) goes to `report`.
void run_generate_command(const GenerateCommandOptions& opts, c10::Device device, std::ostream& out,
                          std::ostream& report);

}  // namespace scanlab::infer
