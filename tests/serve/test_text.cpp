// Byte tokens to text: pieces streamed one token at a time concatenate to the whole reply's text,
// multi-byte characters are held until complete, and bytes that cannot form UTF-8 become U+FFFD.
#include <gtest/gtest.h>

#include <random>

#include <nlohmann/json.hpp>

#include "serve/text.h"

namespace scanlab::serve {
namespace {

std::string decode_all(const std::string& bytes, std::vector<std::string>* pieces = nullptr) {
  TokenText t(true);
  std::string out;
  for (unsigned char b : bytes) {
    std::string p = t.push(b);
    if (pieces) pieces->push_back(p);
    out += p;
  }
  return out + t.flush();
}

TEST(ServeText, MultiByteCharactersAreHeldUntilComplete) {
  std::vector<std::string> pieces;
  EXPECT_EQ(decode_all("a\xC3\xA9\xE2\x82\xAC", &pieces), "a\xC3\xA9\xE2\x82\xAC");  // a é €
  EXPECT_EQ(pieces, (std::vector<std::string>{"a", "", "\xC3\xA9", "", "", "\xE2\x82\xAC"}));
}

TEST(ServeText, InvalidBytesBecomeReplacementCharacters) {
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(decode_all("\xFF"
                       "a"),
            r + "a");
  EXPECT_EQ(decode_all("\xC3"
                       "a"),
            r + "a");                                // a lead byte without its continuation
  EXPECT_EQ(decode_all("\xE0\x80\x80"), r + r + r);  // overlong form: the lead is refused, then two strays
  EXPECT_EQ(decode_all("ok\xE2\x82"), "ok" + r);     // cut at the end: flushed as one
}

TEST(ServeText, RandomBytesGiveValidUtf8InEveryPiece) {
  std::mt19937 rng(5);
  std::string bytes;
  for (int i = 0; i < 4000; ++i) bytes.push_back(static_cast<char>(rng() % 256));
  std::vector<std::string> pieces;
  const std::string whole = decode_all(bytes, &pieces);
  std::string joined;
  for (const auto& p : pieces) joined += p;
  EXPECT_EQ(whole.substr(0, joined.size()), joined);
  // nlohmann's strict dump throws on invalid UTF-8; a valid piece dumps without error.
  for (const auto& p : pieces) EXPECT_NO_THROW(nlohmann::json(p).dump()) << p.size();
}

TEST(ServeText, IdsOutsideTheByteRangeHaveNoText) {
  TokenText t(true);
  EXPECT_EQ(t.push(300), "");
  TokenText not_bytes(false);
  EXPECT_EQ(not_bytes.push(65), "");
}

}  // namespace
}  // namespace scanlab::serve
