// Language-modelling data: plain folders and the WikiText raw format (a sample written here), the
// train/validation split, fixed-length windows with labels = inputs, and the byte tokenizer.
#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/check.h"
#include "tasks/lm_corpus.h"

namespace scanlab::tasks {
namespace {
namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& name) {
  auto dir = fs::temp_directory_path() / ("scanlab_lm_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

const char* kWiki =
    " \n = Valkyria Chronicles III = \n \n Senjō no Valkyria 3 is a game . \n \n = = Gameplay = = \n"
    " \n The game is tactical . \n = Tower Building = \n \n The tower is tall . \n";

TEST(LmCorpus, WikitextArticlesSplitAtTopLevelHeadingsOnly) {
  const auto articles = wikitext_articles(kWiki);
  ASSERT_EQ(articles.size(), 3u);  // the leading blank line, Valkyria (with its = = Gameplay = = section), Tower
  EXPECT_NE(articles[1].find("= = Gameplay = ="), std::string::npos);
  EXPECT_EQ(articles[2].rfind(" = Tower Building = \n", 0), 0u);
  // Lines keep their "\n" and are joined by " " (the Hugging Face rows joined as in the paper).
  EXPECT_NE(articles[2].find(" = Tower Building = \n  \n  The tower is tall . \n"), std::string::npos) << articles[2];
}

TEST(LmCorpus, WikitextFolderUsesItsOwnSplits) {
  auto dir = fresh_dir("wiki");
  write_file_atomically((dir / "wiki.train.raw").string(), kWiki);
  write_file_atomically((dir / "wiki.valid.raw").string(), " = Valid Article = \n \n Words here . \n");
  const auto corpus = load_text_corpus({dir.string(), "auto", 0.5});
  EXPECT_EQ(corpus.train.size(), 3u);
  ASSERT_EQ(corpus.validation.size(), 1u);
  EXPECT_NE(corpus.validation[0].find("Valid Article"), std::string::npos);
}

TEST(LmCorpus, PlainFolderSplitsTheLastDocumentsOffForValidation) {
  auto dir = fresh_dir("plain");
  for (int i = 0; i < 10; ++i)
    write_file_atomically((dir / ("doc" + std::to_string(i) + ".txt")).string(), "text " + std::to_string(i));
  write_file_atomically((dir / "meta.json").string(), "{}");  // not text: skipped
  const auto corpus = load_text_corpus({dir.string(), "auto", 0.2});
  ASSERT_EQ(corpus.train.size(), 8u);
  ASSERT_EQ(corpus.validation.size(), 2u);
  EXPECT_EQ(corpus.train[0], "text 0");
  EXPECT_EQ(corpus.validation[1], "text 9");
  EXPECT_THROW(load_text_corpus({(dir / "missing").string(), "auto", 0.2}), Error);
  EXPECT_THROW(load_text_corpus({dir.string(), "markdown", 0.2}), Error);
}

TEST(LmTask, WindowsAreConsecutiveTokensWithLabelsEqualToInputs) {
  TextCorpus corpus{{"abcdefghijklmnopqrstuvwxyz", "0123"}, {"ABCDEFGHIJ"}};
  LmOptions opts;
  opts.tokenizer = "byte";
  opts.seq_len = 4;
  LmTask task(opts, corpus);
  EXPECT_EQ(task.vocab_size(), 256);
  EXPECT_EQ(task.alignment(), LossAlignment::Shifted);
  EXPECT_EQ(task.num_tokens(Split::Train), 26 + 2 + 4);  // documents joined by "\n\n"
  EXPECT_EQ(task.num_examples(Split::Train), 8);
  EXPECT_EQ(task.num_examples(Split::Validation), 2);
  auto batch = task.examples(Split::Train, {1, 0});
  EXPECT_EQ(task.tokenizer().decode(
                std::vector<int64_t>(batch.inputs[0].data_ptr<int64_t>(), batch.inputs[0].data_ptr<int64_t>() + 4)),
            "efgh");
  EXPECT_TRUE(batch.labels.equal(batch.inputs));
  EXPECT_THROW(task.examples(Split::Validation, {2}), Error);
  opts.seq_len = 64;
  EXPECT_THROW(LmTask(opts, corpus), Error);
}

TEST(ByteTokenizer, RoundTripsAnyBytes) {
  tokenize::ByteTokenizer tok;
  const std::string text = "caf\xc3\xa9 \x01\xff";
  EXPECT_EQ(tok.decode(tok.encode(text)), text);
  EXPECT_EQ(tok.encode("A")[0], 65);
  EXPECT_THROW(tok.decode({256}), Error);
}

}  // namespace
}  // namespace scanlab::tasks
