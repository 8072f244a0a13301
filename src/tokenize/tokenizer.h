// Tokenizers for language modelling: text <-> token ids. Two kinds: "byte" (ids are the UTF-8
// bytes, V = 256) and "gpt2" (GPT-2's byte-level BPE, V = 50257, ids identical to OpenAI's
// encoder; see gpt2_bpe.h).
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace scanlab::tokenize {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::string name() const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual std::vector<int64_t> encode(std::string_view text) const = 0;
  virtual std::string decode(const std::vector<int64_t>& ids) const = 0;
};

class ByteTokenizer : public Tokenizer {
 public:
  std::string name() const override { return "byte"; }
  int64_t vocab_size() const override { return 256; }
  std::vector<int64_t> encode(std::string_view text) const override;
  std::string decode(const std::vector<int64_t>& ids) const override;
};

// kind: "byte" or "gpt2"; bpe_dir: the folder with encoder.json and vocab.bpe (gpt2 only).
std::unique_ptr<Tokenizer> make_tokenizer(const std::string& kind, const std::string& bpe_dir);

// Where scripts/fetch_data.sh puts the GPT-2 files, relative to the repository root.
inline constexpr const char* kDefaultBpeDir = "data/cache/gpt2";

// The tokenizer a model file carries (models/checkpoint.h), as JSON:
//   {"kind": "byte"}
//   {"kind": "gpt2", "files": {"encoder.json": <sha1>, "vocab.bpe": <sha1>}}   (the files it was built from)
//   {"kind": "none", "task": "<task name>"}   (a model of token ids only, e.g. MQAR or S5)
// describe_tokenizer(kind, bpe_dir) hashes the GPT-2 files; a missing file is an error naming it.
// An empty bpe_dir means kDefaultBpeDir, here and in tokenizer_from_description.
nlohmann::json describe_tokenizer(const std::string& kind, const std::string& bpe_dir = kDefaultBpeDir);
nlohmann::json no_tokenizer(const std::string& task);
// Rebuilds the described tokenizer, the GPT-2 files read from `bpe_dir` and checked against the
// hashes; a missing or different file is an error naming it. Returns nullptr for kind "none".
std::unique_ptr<Tokenizer> tokenizer_from_description(const nlohmann::json& description,
                                                      const std::string& bpe_dir = kDefaultBpeDir);
// One line for messages: "byte-level", "GPT-2 BPE", "none (task mqar)".
std::string tokenizer_summary(const nlohmann::json& description);

// GPT-2's <|endoftext|>: the last id of its 50257 (OpenAI's encoder.json; HF's bos and eos).
inline constexpr int64_t kGpt2EndOfText = 50256;
// The id that ends a text under the described tokenizer, where it has one: kGpt2EndOfText for
// GPT-2 BPE; byte-level text and id-only models have none.
std::optional<int64_t> end_of_text_id(const nlohmann::json& description);

}  // namespace scanlab::tokenize
