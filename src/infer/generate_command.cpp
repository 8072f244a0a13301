#include "infer/generate_command.h"

#include <fmt/format.h>

#include "core/check.h"
#include "io/safetensors.h"
#include "io/token_files.h"
#include "models/checkpoint.h"
#include "tokenize/tokenizer.h"

namespace scanlab::infer {

void run_generate_command(const GenerateCommandOptions& opts, c10::Device device, std::ostream& out,
                          std::ostream& report) {
  const bool has_text = !opts.prompt.empty(), has_ids = !opts.prompt_tokens_file.empty();
  SCANLAB_CHECK(!(has_text && has_ids), "give --prompt or --prompt-tokens, not both");
  SCANLAB_CHECK(has_text || has_ids || !opts.resume_state.empty(),
                "nothing to continue: give --prompt TEXT, --prompt-tokens FILE or --resume-state FILE");
  SCANLAB_CHECK(opts.output == "auto" || opts.output == "text" || opts.output == "ids", "--output '", opts.output,
                "': expected text, ids or auto");
  SCANLAB_CHECK(opts.dtype == "float32" || opts.dtype == "bfloat16", "--dtype '", opts.dtype,
                "': expected float32 or bfloat16");
  const models::ModelFile file = models::read_model_file(opts.checkpoint);
  auto model = models::load_model(file, opts.checkpoint, device);
  if (opts.dtype == "bfloat16") model->to(device, at::kBFloat16);
  model->eval();
  // Text in or out needs the tokenizer the file carries; ids in and out need none.
  const bool carries_text = file.tokenizer.value("kind", std::string("none")) != "none";
  const bool text_out = opts.output == "text" || (opts.output == "auto" && !has_ids && carries_text);
  std::unique_ptr<tokenize::Tokenizer> tokenizer;
  if (has_text || text_out)
    tokenizer = models::text_tokenizer(file, opts.bpe_dir, has_text ? "generate --prompt" : "generate --output text");
  std::vector<int64_t> prompt_ids = has_text  ? tokenizer->encode(opts.prompt)
                                    : has_ids ? io::read_token_ids(opts.prompt_tokens_file)
                                              : std::vector<int64_t>{};
  io::check_token_ids(prompt_ids, model->vocab_size(), has_ids ? opts.prompt_tokens_file : "generate --prompt");

  TokenCallback emit = [&](int64_t, const at::Tensor& tokens) {
    const int64_t t = tokens[0].item<int64_t>();
    if (text_out && t < tokenizer->vocab_size())
      out << tokenizer->decode({t});
    else
      out << t << ' ';
    out.flush();
  };
  at::Tensor prompt = at::tensor(prompt_ids, at::kLong).unsqueeze(0).to(device);
  GenerateResult result;
  GenerateOptions gen_opts = opts.generate;
  gen_opts.keep_tokens = false;  // printed as they come: a long stream must not grow the process
  if (!opts.resume_state.empty()) {
    auto [stream, logits] = load_generation_state_file(*model, io::load_safetensors(opts.resume_state),
                                                       file.weights_sha1, opts.resume_state);
    at::NoGradGuard no_grad;
    for (int64_t id : prompt_ids) logits = stream->step(at::full({logits.size(0)}, id, at::kLong).to(device));
    result = generate_from_stream(*model, std::move(stream), logits, gen_opts, emit);
  } else {
    result = generate(*model, prompt, gen_opts, emit);
  }
  out << '\n';
  out.flush();
  if (opts.stats) {
    report << fmt::format("prefill of {} prompt tokens: {:.3f} ms\n", prompt_ids.size(), result.prefill_ms);
    report << fmt::format("decode steps as CUDA graphs: {}\n", result.cuda_graphs ? "yes" : "no");
    report << fmt::format("chunk-boundary work overlapped on a second stream: {}\n",
                          result.boundary_overlap ? "yes" : "no");
    if (result.step_stride > 1)
      report << fmt::format("step statistics over every {}th step ({} recorded)\n", result.step_stride,
                            result.steps.size());
    report << format_summary(summarize(result.steps));
    report << format_state_bytes_series(result.steps, 10);
  }
  if (!opts.save_state.empty()) {
    io::save_safetensors(opts.save_state,
                         generation_state_file(*result.stream, result.next_logits, model->config(), file.weights_sha1));
  }
}

}  // namespace scanlab::infer
