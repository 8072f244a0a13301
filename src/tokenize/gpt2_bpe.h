// GPT-2 byte-level BPE (Radford et al. 2019), ids identical to OpenAI's encoder.py:
//   1. pre-tokenize with  's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//      (PCRE2, Unicode classes: \s is Unicode White_Space, as in Python's `regex`);
//   2. map each UTF-8 byte of a piece to a printable character (bytes_to_unicode);
//   3. merge adjacent symbols, lowest merge rank (line of vocab.bpe) first, until none applies;
//   4. look the symbols up in encoder.json.
// Input must be valid UTF-8 (an error names the byte offset otherwise).
#pragma once
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenize/tokenizer.h"

namespace scanlab::tokenize {

class Gpt2Bpe : public Tokenizer {
 public:
  // Reads <dir>/encoder.json and <dir>/vocab.bpe; a missing file is an error that says how to fetch it.
  explicit Gpt2Bpe(const std::string& dir);
  ~Gpt2Bpe() override;

  std::string name() const override { return "gpt2"; }
  int64_t vocab_size() const override { return static_cast<int64_t>(decoder_.size()); }
  std::vector<int64_t> encode(std::string_view text) const override;
  std::string decode(const std::vector<int64_t>& ids) const override;

  // The pre-tokenizer's pieces (step 1), exposed for tests.
  std::vector<std::string> pre_tokenize(std::string_view text) const;

 private:
  void bpe(const std::string& piece, std::vector<int64_t>& out) const;

  std::unordered_map<std::string, int64_t> encoder_;
  std::vector<std::string> decoder_;
  std::unordered_map<std::string, int64_t> merge_rank_;  // "left right" -> rank
  std::string byte_symbol_[256];                         // byte -> UTF-8 of its printable stand-in
  std::unordered_map<uint32_t, uint8_t> symbol_byte_;    // code point -> byte
  struct Regex;
  std::unique_ptr<Regex> regex_;
  mutable std::unordered_map<std::string, std::vector<int64_t>> cache_;
};

}  // namespace scanlab::tokenize
