// UTF-8 (core/utf8.h): the well-formedness check every parser's input passes first, and the one
// encoder and decoder of code points (GPT-2 BPE's byte symbols, the TOML reader's ASCII form).
#include <gtest/gtest.h>

#include "core/utf8.h"

namespace scanlab {
namespace {

TEST(Utf8, EveryLengthOfSequenceRoundTrips) {
  for (uint32_t cp :
       {0x00u, 0x41u, 0x7Fu, 0x80u, 0xA7u, 0x7FFu, 0x800u, 0x20ACu, 0xFFFFu, 0x10000u, 0x1F600u, 0x10FFFFu}) {
    std::string s;
    append_utf8(s, cp);
    EXPECT_EQ(s.size(), cp < 0x80 ? 1u : cp < 0x800 ? 2u : cp < 0x10000 ? 3u : 4u) << cp;
    EXPECT_EQ(first_invalid_utf8(s), std::string_view::npos) << cp;
    size_t i = 0;
    EXPECT_EQ(next_code_point(s, i), cp);
    EXPECT_EQ(i, s.size());
  }
  // The bytes of known characters: § (C2 A7), € (E2 82 AC), U+1F600 (F0 9F 98 80).
  std::string s;
  for (uint32_t cp : {0xA7u, 0x20ACu, 0x1F600u}) append_utf8(s, cp);
  EXPECT_EQ(s, "\xc2\xa7\xe2\x82\xac\xf0\x9f\x98\x80");
}

TEST(Utf8, MalformedSequencesAreFoundAtTheirFirstByte) {
  EXPECT_EQ(first_invalid_utf8("ok \xa7"), 3u);           // a lone continuation byte
  EXPECT_EQ(first_invalid_utf8("\xc0\xaf"), 0u);          // overlong
  EXPECT_EQ(first_invalid_utf8("ab\xed\xa0\x80"), 2u);    // a surrogate
  EXPECT_EQ(first_invalid_utf8("\xf4\x90\x80\x80"), 0u);  // beyond U+10FFFF
  EXPECT_EQ(first_invalid_utf8("\xe2\x82"), 0u);          // cut short
}

}  // namespace
}  // namespace scanlab
