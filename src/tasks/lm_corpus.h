// Language modelling on real text (PSM paper §4.3): a corpus of documents from a file or a folder,
// split into train and validation, tokenized, and cut into non-overlapping windows of seq_len tokens
// with labels = inputs and the Shifted loss (next-token prediction).
// Formats:
//   plain    each file is one document (files of a folder sorted by name; extensions .txt, .raw, .tokens);
//   wikitext the WikiText raw format: articles start at a " = Title = " line (" = = Section = = " lines
//            stay inside); as in the Hugging Face pipeline the lines (with their "\n") are joined by " ".
//            A folder holding wiki.train.raw and wiki.valid.raw uses those files as the two splits.
//   auto     wikitext for *.raw files or such a folder, else plain.
// Without given splits, the last val_fraction of the documents (at least one) is the validation set.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tasks/task.h"
#include "tokenize/tokenizer.h"

namespace scanlab::tasks {

struct CorpusOptions {
  std::string path = "data/cache/sotu";  // US State of the Union addresses (scripts/fetch_data.sh)
  std::string format = "auto";           // auto | plain | wikitext
  double val_fraction = 0.05;
};

struct TextCorpus {
  std::vector<std::string> train, validation;  // documents
};

TextCorpus load_text_corpus(const CorpusOptions& opts);
// Splits WikiText raw text into articles, each the " "-join of its lines (each line keeps its "\n").
std::vector<std::string> wikitext_articles(const std::string& raw);

struct LmOptions {
  CorpusOptions corpus;
  std::string tokenizer = "gpt2";  // gpt2 | byte
  std::string bpe_dir = tokenize::kDefaultBpeDir;
  int64_t seq_len = 512;
};

class LmTask : public Task {
 public:
  explicit LmTask(const LmOptions& opts);
  // From documents already in memory (tests, small corpora).
  LmTask(const LmOptions& opts, const TextCorpus& corpus);
  std::string name() const override;
  int64_t vocab_size() const override { return tokenizer_->vocab_size(); }
  int64_t seq_len() const override { return seq_len_; }
  LossAlignment alignment() const override { return LossAlignment::Shifted; }
  int64_t num_examples(Split split) const override;
  Batch examples(Split split, const std::vector<int64_t>& indices) const override;
  int64_t num_tokens(Split split) const;
  const tokenize::Tokenizer& tokenizer() const { return *tokenizer_; }
  nlohmann::json tokenizer_description() const override { return tokenizer_description_; }

 private:
  const std::vector<int64_t>& tokens(Split split) const { return split == Split::Train ? train_ : val_; }
  std::unique_ptr<tokenize::Tokenizer> tokenizer_;
  nlohmann::json tokenizer_description_;
  int64_t seq_len_;
  std::string source_;
  std::vector<int64_t> train_, val_;
};

}  // namespace scanlab::tasks
