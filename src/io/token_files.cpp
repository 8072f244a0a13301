#include "io/token_files.h"

#include <cctype>

#include "core/atomic_file.h"
#include "core/check.h"

namespace scanlab::io {

std::vector<int64_t> parse_token_ids(const std::string& text, const std::string& source) {
  std::vector<int64_t> out;
  int64_t line = 1;
  size_t i = 0;
  while (i < text.size()) {
    if (std::isspace(static_cast<unsigned char>(text[i]))) {
      line += text[i++] == '\n';
      continue;
    }
    const size_t start = i;
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    const std::string word = text.substr(start, i - start);
    bool digits = word.size() <= 18;
    for (char ch : word) digits = digits && std::isdigit(static_cast<unsigned char>(ch));
    SCANLAB_CHECK(digits, source, ":", line, ": '", word, "' is not a token id; expected non-negative integers ",
                  "separated by whitespace");
    out.push_back(std::stoll(word));
  }
  return out;
}

std::vector<int64_t> read_token_ids(const std::string& path) { return parse_token_ids(read_file(path), path); }

void check_token_ids(const std::vector<int64_t>& ids, int64_t vocab, const std::string& source) {
  for (size_t i = 0; i < ids.size(); ++i)
    SCANLAB_CHECK(ids[i] >= 0 && ids[i] < vocab, source, ": token ", i, " is id ", ids[i],
                  ", outside the model's vocabulary [0, ", vocab, ")");
}

}  // namespace scanlab::io
