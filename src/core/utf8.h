// Well-formed UTF-8 (no overlong forms, surrogates or code points beyond U+10FFFF): text a user
// feeds to a parser (a TOML config, GPT-2 BPE input) is checked here first, so the parser never sees
// bytes it may mishandle.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace scanlab {

// Offset of the first byte that does not start a well-formed UTF-8 sequence, or npos.
size_t first_invalid_utf8(std::string_view s);

// Appends code point `cp` (at most U+10FFFF) in UTF-8.
void append_utf8(std::string& out, uint32_t cp);
// The code point of the sequence that starts at s[i], moving i past it. `s` must be well-formed
// (checked by first_invalid_utf8, or written by append_utf8).
uint32_t next_code_point(std::string_view s, size_t& i);

}  // namespace scanlab
