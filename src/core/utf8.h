// Well-formed UTF-8 (no overlong forms, surrogates or code points beyond U+10FFFF): text a user
// feeds to a parser (a TOML config, GPT-2 BPE input) is checked here first, so the parser never sees
// bytes it may mishandle.
#pragma once
#include <cstddef>
#include <string_view>

namespace scanlab {

// Offset of the first byte that does not start a well-formed UTF-8 sequence, or npos.
size_t first_invalid_utf8(std::string_view s);

}  // namespace scanlab
