// Token sequences from files: raw bytes as byte-level tokens (token = byte value, vocabulary 256)
// until the GPT-2 BPE tokenizer lands, and whitespace-separated integer ids.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace scanlab::io {

constexpr int64_t kByteVocab = 256;

// Every byte of `text` as a token in [0, 256).
std::vector<int64_t> byte_tokens(const std::string& text);
// Parses whitespace-separated non-negative integers; errors name the file, the line and the word.
std::vector<int64_t> parse_token_ids(const std::string& text, const std::string& source);
std::vector<int64_t> read_token_ids(const std::string& path);

}  // namespace scanlab::io
