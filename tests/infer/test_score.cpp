// `scanlab score` as a library call: parallel and stream agree, the NLL is the shifted next-token
// cross-entropy of the dumped logits, and bad inputs are clear errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>

#include "core/atomic_file.h"
#include "core/check.h"
#include "infer/score.h"
#include "io/safetensors.h"
#include "io/token_files.h"
#include "models/checkpoint.h"

namespace scanlab::infer {
namespace {

std::string temp_path(const std::string& tag) {
  return ::testing::TempDir() + "score_" + tag + "_" + std::to_string(getpid());
}

TEST(Score, ParallelAndStreamAgreeAndMatchTheDumpedLogits) {
  at::manual_seed(2);
  models::InitModelOptions init;
  init.model = "transformer_psm";
  init.preset = "small";
  init.dtype = "float64";
  init.out = temp_path("psm.safetensors");
  models::init_model(init);
  const std::string tokens_file = temp_path("tokens.txt"), dump = temp_path("logits.safetensors");
  write_file_atomically(tokens_file, "3 1 4 1 5 9 2 6\n5 3 5 8 9 7 9 3 2\n");

  ScoreOptions o;
  o.checkpoint = init.out;
  o.tokens_file = tokens_file;
  o.dump_logits = dump;
  const ScoreReport parallel = score(o, at::kCPU);
  o.mode = "stream";
  const ScoreReport stream = score(o, at::kCPU);
  EXPECT_EQ(parallel.tokens, 17);
  EXPECT_EQ(parallel.predicted, 16);
  EXPECT_NEAR(parallel.mean_nll, stream.mean_nll, 1e-12);
  EXPECT_NEAR(parallel.perplexity, std::exp(parallel.mean_nll), 1e-9);

  // The NLL by hand from the (stream-mode) dump: -mean_t log softmax(logits[t])[token[t+1]].
  const io::Safetensors st = io::load_safetensors(dump);
  const at::Tensor logits = st.tensors.at("logits"), ids = st.tensors.at("tokens");
  ASSERT_EQ(logits.sizes(), at::IntArrayRef({17, 37}));
  double nll = 0;
  for (int64_t t = 0; t + 1 < 17; ++t) {
    const at::Tensor row = logits[t];
    nll += (row.exp().sum().log() - row[ids[t + 1].item<int64_t>()]).item<double>();
  }
  EXPECT_NEAR(nll / 16, parallel.mean_nll, 1e-10);
  EXPECT_EQ(st.metadata.at("mode"), "stream");

  // Byte-level text needs a 256-token vocabulary; a single token predicts nothing.
  o.tokens_file.clear();
  o.text_file = tokens_file;
  EXPECT_THROW(score(o, at::kCPU), Error);
  o.text_file.clear();
  o.tokens_file = tokens_file;
  write_file_atomically(tokens_file, "7\n");
  EXPECT_THROW(score(o, at::kCPU), Error);
  write_file_atomically(tokens_file, "7 99\n");  // id >= vocab 37
  EXPECT_THROW(score(o, at::kCPU), Error);
  for (const auto& p : {init.out, tokens_file, dump}) std::remove(p.c_str());
}

TEST(TokenFiles, Ids) {
  EXPECT_EQ(io::parse_token_ids(" 1\t22\n333 \n", "ids"), (std::vector<int64_t>{1, 22, 333}));
  try {
    io::parse_token_ids("1 2\n3 -4\n", "ids.txt");
    ADD_FAILURE() << "a negative id was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("ids.txt:2: '-4'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace scanlab::infer
