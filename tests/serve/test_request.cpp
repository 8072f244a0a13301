// Request parsing on its own (no server): defaults, both prompt forms, continue's optional prompt.
#include <gtest/gtest.h>

#include "serve/request.h"

namespace scanlab::serve {
namespace {

TEST(ServeRequest, DefaultsFollowOpenAI) {
  auto r = parse_request(R"({"prompt": "hi"})", RequestKind::Completion, {});
  EXPECT_EQ(r.prompt, (std::vector<int64_t>{'h', 'i'}));
  EXPECT_EQ(r.max_tokens, 16);
  EXPECT_EQ(r.sampling.temperature, 1.0);
  EXPECT_FALSE(r.seed.has_value());
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.keep_session);
}

TEST(ServeRequest, ContinueHasAnOptionalPromptAndKeepsItsSession) {
  auto r = parse_request(R"({"max_tokens": 4})", RequestKind::Continue, {});
  EXPECT_TRUE(r.prompt.empty());
  EXPECT_TRUE(r.keep_session);
  EXPECT_THROW(parse_request(R"({"max_tokens": 4})", RequestKind::Completion, {}), RequestError);
}

TEST(ServeRequest, TextNeedsAByteVocabulary) {
  RequestLimits small{37, 100, 100};
  try {
    parse_request(R"({"prompt": "hi"})", RequestKind::Completion, small);
    FAIL() << "text prompt accepted for a vocabulary of 37";
  } catch (const RequestError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_NE(std::string(e.what()).find("list of token ids"), std::string::npos) << e.what();
  }
  EXPECT_EQ(parse_request(R"({"prompt": [36, 0], "seed": 7})", RequestKind::Completion, small).seed, 7u);
}

TEST(ServeRequest, LimitsAreEnforced) {
  RequestLimits l{256, 4, 10};
  EXPECT_THROW(parse_request(R"({"prompt": "hello"})", RequestKind::Completion, l), RequestError);
  EXPECT_THROW(parse_request(R"({"prompt": "hi", "max_tokens": 11})", RequestKind::Completion, l), RequestError);
  EXPECT_THROW(parse_request(R"({"prompt": "hi", "max_tokens": 18446744073709551615})", RequestKind::Completion, l),
               RequestError);
  EXPECT_EQ(parse_request(R"({"prompt": "hi", "max_tokens": 10})", RequestKind::Completion, l).max_tokens, 10);
}

}  // namespace
}  // namespace scanlab::serve
