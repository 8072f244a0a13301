// Token ids -> reply text for byte-level models (ids 0..255 are UTF-8 bytes). Tokens arrive one at
// a time and a character may span several, so bytes are held until their character is complete;
// a byte that cannot continue or start a character becomes U+FFFD. The streamed pieces therefore
// concatenate to exactly the text of the whole reply, and every piece is valid UTF-8 (JSON-safe).
#pragma once
#include <cstdint>
#include <string>

namespace scanlab::serve {

class TokenText {
 public:
  // byte_level: the model's ids < 256 are bytes; otherwise (and for ids >= 256) ids have no text.
  explicit TokenText(bool byte_level) : byte_level_(byte_level) {}
  // The text that token `id` completes (often empty inside a multi-byte character).
  std::string push(int64_t id);
  // What is still held at the end of the reply (an incomplete character becomes U+FFFD).
  std::string flush();

 private:
  std::string push_byte(unsigned char b);
  bool byte_level_;
  std::string pending_;  // the first bytes of an incomplete character
  int need_ = 0;         // continuation bytes still missing
};

}  // namespace scanlab::serve
