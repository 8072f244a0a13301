#include "tasks/lm_corpus.h"

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "core/atomic_file.h"
#include "core/check.h"

namespace scanlab::tasks {
namespace fs = std::filesystem;
namespace {

// " = Title = " (one '=' on each side) starts an article; " = = Section = = " does not.
bool is_article_heading(const std::string& line) {
  std::string s = line;
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s.size() >= 5 && s.rfind(" = ", 0) == 0 && s.compare(s.size() - 3, 3, " = ") == 0 && s[3] != '=' &&
         s[s.size() - 4] != '=';
}

bool has_text_extension(const fs::path& p) {
  const auto ext = p.extension().string();
  return ext == ".txt" || ext == ".raw" || ext == ".tokens";
}

std::string join_documents(const std::vector<std::string>& docs) {
  std::string out;
  for (const auto& d : docs) out += (out.empty() ? "" : "\n\n") + d;
  return out;
}

}  // namespace

std::vector<std::string> wikitext_articles(const std::string& raw) {
  std::vector<std::string> articles;
  std::istringstream in(raw);
  std::string line;
  while (std::getline(in, line)) {
    if (!in.eof()) line += '\n';
    if (is_article_heading(line) || articles.empty()) articles.emplace_back();
    auto& a = articles.back();
    a += (a.empty() ? "" : " ") + line;
  }
  return articles;
}

TextCorpus load_text_corpus(const CorpusOptions& opts) {
  SCANLAB_CHECK(opts.format == "auto" || opts.format == "plain" || opts.format == "wikitext", "corpus format '",
                opts.format, "' is unknown; expected auto, plain or wikitext");
  SCANLAB_CHECK(opts.val_fraction > 0 && opts.val_fraction < 1, "corpus val_fraction ", opts.val_fraction,
                " must be in (0, 1)");
  const fs::path root(opts.path);
  SCANLAB_CHECK(fs::exists(root), "corpus path '", opts.path, "' does not exist",
                opts.path.find("data/cache") != std::string::npos
                    ? "; run `bash scripts/fetch_data.sh` to fetch the default corpus"
                    : "");
  TextCorpus corpus;
  if (fs::is_directory(root) && fs::exists(root / "wiki.train.raw") && fs::exists(root / "wiki.valid.raw") &&
      opts.format != "plain") {
    corpus.train = wikitext_articles(read_file((root / "wiki.train.raw").string()));
    corpus.validation = wikitext_articles(read_file((root / "wiki.valid.raw").string()));
    return corpus;
  }
  std::vector<fs::path> files;
  if (fs::is_directory(root)) {
    for (const auto& e : fs::directory_iterator(root))
      if (e.is_regular_file() && has_text_extension(e.path())) files.push_back(e.path());
    std::sort(files.begin(), files.end());
  } else {
    files.push_back(root);
  }
  SCANLAB_CHECK(!files.empty(), "corpus folder '", opts.path, "' has no .txt, .raw or .tokens files");
  std::vector<std::string> docs;
  for (const auto& f : files) {
    const bool wiki = opts.format == "wikitext" || (opts.format == "auto" && f.extension() == ".raw");
    auto text = read_file(f.string());
    if (wiki) {
      for (auto& a : wikitext_articles(text)) docs.push_back(std::move(a));
    } else {
      docs.push_back(std::move(text));
    }
  }
  SCANLAB_CHECK(docs.size() >= 2, "corpus '", opts.path, "' has ", docs.size(),
                " document(s); a train/validation split needs at least 2");
  const auto n_val = std::max<size_t>(1, static_cast<size_t>(opts.val_fraction * static_cast<double>(docs.size())));
  corpus.train.assign(docs.begin(), docs.end() - static_cast<std::ptrdiff_t>(n_val));
  corpus.validation.assign(docs.end() - static_cast<std::ptrdiff_t>(n_val), docs.end());
  return corpus;
}

LmTask::LmTask(const LmOptions& opts) : LmTask(opts, load_text_corpus(opts.corpus)) { source_ = opts.corpus.path; }

LmTask::LmTask(const LmOptions& opts, const TextCorpus& corpus)
    : tokenizer_(tokenize::make_tokenizer(opts.tokenizer, opts.bpe_dir)),
      tokenizer_description_(tokenize::describe_tokenizer(opts.tokenizer, opts.bpe_dir)),
      seq_len_(opts.seq_len),
      source_("memory") {
  SCANLAB_CHECK(seq_len_ >= 2, "lm: seq_len ", seq_len_, " must be >= 2 (the shifted loss needs two tokens)");
  train_ = tokenizer_->encode(join_documents(corpus.train));
  val_ = tokenizer_->encode(join_documents(corpus.validation));
  for (Split s : {Split::Train, Split::Validation})
    SCANLAB_CHECK(num_examples(s) >= 1, "lm: the ", split_name(s), " split has ", num_tokens(s),
                  " tokens, fewer than one window of seq_len ", seq_len_, "; use a shorter seq_len or more text");
}

std::string LmTask::name() const {
  return "lm(" + source_ + ", " + tokenizer_->name() + ", T=" + std::to_string(seq_len_) + ")";
}

int64_t LmTask::num_tokens(Split split) const { return static_cast<int64_t>(tokens(split).size()); }
int64_t LmTask::num_examples(Split split) const { return num_tokens(split) / seq_len_; }

Batch LmTask::examples(Split split, const std::vector<int64_t>& indices) const {
  const int64_t B = static_cast<int64_t>(indices.size()), T = seq_len_;
  auto inputs = at::empty({B, T}, at::kLong);
  const auto& toks = tokens(split);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t i = indices[static_cast<size_t>(b)];
    SCANLAB_CHECK(i >= 0 && i < num_examples(split), name(), ": window ", i, " is outside the ", split_name(split),
                  " split of ", num_examples(split));
    std::copy_n(toks.begin() + i * T, T, inputs.data_ptr<int64_t>() + b * T);
  }
  return {inputs, inputs.clone()};  // next-token prediction: the Shifted loss pairs logits[t] with inputs[t+1]
}

}  // namespace scanlab::tasks
