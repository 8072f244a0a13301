#include "infer/score.h"

#include <fmt/format.h>
#include <torch/utils.h>

#include <chrono>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "core/atomic_file.h"
#include "core/check.h"
#include "core/device_sync.h"
#include "core/memory.h"
#include "io/safetensors.h"
#include "io/token_files.h"
#include "models/checkpoint.h"
#include "models/model_size.h"
#include "tokenize/tokenizer.h"

namespace scanlab::infer {

ScoreReport score(const ScoreOptions& o, const at::Device& device) {
  SCANLAB_CHECK(o.text_file.empty() != o.tokens_file.empty(), "score: give exactly one of --text and --tokens");
  SCANLAB_CHECK(o.mode == "parallel" || o.mode == "stream", "score: --mode '", o.mode,
                "' is unknown; expected parallel or stream");
  const models::ModelFile file = models::read_model_file(o.checkpoint);
  auto model = models::load_model(file, o.checkpoint, device);
  std::vector<int64_t> ids;
  if (!o.text_file.empty()) {
    ids = models::text_tokenizer(file, o.bpe_dir, "score --text")->encode(read_file(o.text_file));
  } else {
    ids = io::read_token_ids(o.tokens_file);
  }
  const std::string source = o.text_file.empty() ? o.tokens_file : o.text_file;
  SCANLAB_CHECK(ids.size() >= 2, "score: ", source, " holds ", ids.size(), " token(s); at least 2 are needed");
  io::check_token_ids(ids, model->vocab_size(), source);
  const int64_t t = static_cast<int64_t>(ids.size());
  if (o.mode == "parallel")  // one forward over every token; a stream holds one token's activations
    check_fits_in_memory(
        models::inference_bytes(file.config, 1, static_cast<double>(t)), device,
        fmt::format("score: a {} on {} tokens of {} in one forward (--mode parallel)", model->kind(), t, source));
  const at::Tensor tokens = at::tensor(ids, at::kLong).view({1, t}).to(device);

  torch::NoGradGuard no_grad;
  ScoreReport report{model->kind(), o.mode, t, t - 1};
  const auto start = std::chrono::steady_clock::now();
  at::Tensor logits;  // [T, V]
  if (o.mode == "parallel") {
    logits = model->forward(tokens)[0];
  } else {
    auto stream = model->start_stream(1);
    logits = models::stream_logits(*stream, tokens, [&](const models::Stream& s) {
      report.state_bytes_max = std::max(report.state_bytes_max, s.state_bytes());
    })[0];
    report.state_bytes_final = stream->state_bytes();
  }
  synchronize(device);
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const at::Tensor logp = at::log_softmax(logits.to(at::kDouble), -1);
  const at::Tensor target = tokens[0].slice(0, 1).unsqueeze(1);
  const double nll = -logp.slice(0, 0, t - 1).gather(1, target).mean().item<double>();
  if (!o.dump_logits.empty()) {
    io::Safetensors st;
    st.tensors["logits"] = logits;
    st.tensors["tokens"] = tokens[0];
    st.metadata["mode"] = o.mode;
    st.metadata["checkpoint"] = o.checkpoint;
    io::save_safetensors(o.dump_logits, st);
  }
  report.mean_nll = nll;
  report.perplexity = std::exp(nll);
  return report;
}

std::string format_score_report(const ScoreReport& r) {
  std::ostringstream os;
  os.precision(6);
  os << "model " << r.model << ", mode " << r.mode << ": " << r.tokens << " tokens, " << r.predicted << " predicted\n"
     << "mean NLL " << std::fixed << r.mean_nll << " nats/token, perplexity " << r.perplexity << "\n";
  if (r.mode == "stream")
    os << "stream state: " << r.state_bytes_final << " bytes at the end, " << r.state_bytes_max << " at most\n";
  os << "time " << std::setprecision(3) << r.seconds << " s\n";
  return os.str();
}

}  // namespace scanlab::infer
