// Token sequences from files: whitespace-separated integer ids (text goes through the tokenizer a
// model file carries, tokenize/tokenizer.h).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace scanlab::io {

// Parses whitespace-separated non-negative integers; errors name the file, the line and the word.
std::vector<int64_t> parse_token_ids(const std::string& text, const std::string& source);
std::vector<int64_t> read_token_ids(const std::string& path);
// Throws, naming `source`, the first id outside [0, vocab) and its position, if there is one.
void check_token_ids(const std::vector<int64_t>& ids, int64_t vocab, const std::string& source);

}  // namespace scanlab::io
