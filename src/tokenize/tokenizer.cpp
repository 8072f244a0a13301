#include "tokenize/tokenizer.h"

#include "core/check.h"
#include "tokenize/gpt2_bpe.h"

namespace scanlab::tokenize {

std::vector<int64_t> ByteTokenizer::encode(std::string_view text) const {
  std::vector<int64_t> ids(text.size());
  for (size_t i = 0; i < text.size(); ++i) ids[i] = static_cast<unsigned char>(text[i]);
  return ids;
}

std::string ByteTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string out(ids.size(), '\0');
  for (size_t i = 0; i < ids.size(); ++i) {
    SCANLAB_CHECK(ids[i] >= 0 && ids[i] < 256, "byte tokenizer: id ", ids[i], " at position ", i,
                  " is not a byte (expected 0..255)");
    out[i] = static_cast<char>(ids[i]);
  }
  return out;
}

std::unique_ptr<Tokenizer> make_tokenizer(const std::string& kind, const std::string& bpe_dir) {
  if (kind == "byte") return std::make_unique<ByteTokenizer>();
  if (kind == "gpt2") return std::make_unique<Gpt2Bpe>(bpe_dir);
  SCANLAB_CHECK(false, "unknown tokenizer '", kind, "'; expected byte or gpt2");
  return nullptr;
}

}  // namespace scanlab::tokenize
