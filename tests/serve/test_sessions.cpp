// SessionStore's files on disk: bound to the model's weights SHA-1 (infer::generation_state_file, as
// `generate --save-state` writes), so a session saved by another model, or a truncated file, is
// refused naming the session; the same model restores it bit-identically.
#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>
#include <string>

#include "serve/sessions.h"
#include "serve_test_util.h"

namespace scanlab::serve {
namespace {

namespace fs = std::filesystem;

Session session_of(models::SequenceModel& model, const std::string& text) {
  auto [logits, stream] = model.prefill(at::tensor(testing::bytes_of(text), at::kLong).unsqueeze(0));
  return Session{std::move(stream), logits.select(1, logits.size(1) - 1).clone()};
}

class SessionFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("scanlab_session_files_" + std::to_string(::getpid()) + "_" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_;
};

TEST_F(SessionFiles, TheSameModelRestoresASessionBitIdentically) {
  auto model = testing::tiny_byte_model();
  SessionStore store(*model, testing::weights_sha1_of(*model), /*budget_bytes=*/1, (root_ / "a").string());
  Session reference = session_of(*model, "kept on disk");
  store.put("s1", session_of(*model, "kept on disk"));
  ASSERT_EQ(store.on_disk(), 1);
  ASSERT_TRUE(fs::exists(root_ / "a" / "s1.safetensors"));
  auto back = store.take("s1");
  ASSERT_TRUE(back);
  EXPECT_TRUE(at::equal(back->logits, reference.logits));
  auto want = reference.stream->save(), got = back->stream->save();
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [name, t] : want) {
    ASSERT_TRUE(got.count(name)) << name;
    EXPECT_TRUE(at::equal(got.at(name), t)) << name;
  }
  // And it continues exactly as the stream that never left memory.
  const auto token = at::full({1}, int64_t{'x'}, at::kLong);
  EXPECT_TRUE(at::equal(back->stream->step(token), reference.stream->step(token)));
  EXPECT_FALSE(fs::exists(root_ / "a" / "s1.safetensors"));
}

TEST_F(SessionFiles, ASessionSavedByAnotherModelIsRefusedNamingIt) {
  auto model_a = testing::tiny_byte_model();
  at::manual_seed(12);  // the same config, other weights: the states fit each other, only the hash tells
  auto model_b = models::make_model(model_a->config());
  model_b->eval();
  ASSERT_NE(testing::weights_sha1_of(*model_a), testing::weights_sha1_of(*model_b));
  SessionStore store_a(*model_a, testing::weights_sha1_of(*model_a), 1, (root_ / "a").string());
  SessionStore store_b(*model_b, testing::weights_sha1_of(*model_b), 1, (root_ / "b").string());
  store_a.put("sa", session_of(*model_a, "model a"));
  store_b.put("sb", session_of(*model_b, "model b"));
  // Model A's file where model B's session was.
  fs::copy_file(root_ / "a" / "sa.safetensors", root_ / "b" / "sb.safetensors", fs::copy_options::overwrite_existing);
  for (int attempt = 0; attempt < 2; ++attempt) {  // refused, kept, and refused the same way again
    try {
      store_b.take("sb");
      FAIL() << "a session saved by another model was restored";
    } catch (const SessionRefused& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("session 'sb'"), std::string::npos) << what;
      EXPECT_NE(what.find("saved by a model whose weights' SHA-1 is " + testing::weights_sha1_of(*model_a)),
                std::string::npos)
          << what;
    }
    EXPECT_TRUE(store_b.contains("sb"));
    EXPECT_TRUE(fs::exists(root_ / "b" / "sb.safetensors"));
  }
  // The same weights under another model file's hash (a changed file) are refused too.
  SessionStore changed(*model_a, std::string(40, '0'), 1, (root_ / "c").string());
  changed.put("sc", session_of(*model_a, "changed"));
  fs::copy_file(root_ / "a" / "sa.safetensors", root_ / "c" / "sc.safetensors", fs::copy_options::overwrite_existing);
  EXPECT_THROW(changed.take("sc"), SessionRefused);
  // Model A still restores its own.
  EXPECT_TRUE(store_a.take("sa"));
}

TEST_F(SessionFiles, ATruncatedSessionFileIsRefusedNamingIt) {
  auto model = testing::tiny_byte_model();
  SessionStore store(*model, testing::weights_sha1_of(*model), 1, (root_ / "a").string());
  store.put("st", session_of(*model, "to be cut"));
  const fs::path file = root_ / "a" / "st.safetensors";
  const auto size = fs::file_size(file);
  for (uintmax_t keep : {size - 1, size / 2, uintmax_t{5}, uintmax_t{0}}) {
    fs::resize_file(file, keep);
    try {
      store.take("st");
      FAIL() << "a session file cut to " << keep << " of " << size << " bytes was restored";
    } catch (const SessionRefused& e) {
      EXPECT_NE(std::string(e.what()).find("session 'st'"), std::string::npos) << e.what();
    }
    EXPECT_TRUE(store.contains("st"));
  }
}

TEST_F(SessionFiles, ADirectoryWithoutTheModelsHashIsAnError) {
  auto model = testing::tiny_byte_model();
  EXPECT_THROW(SessionStore(*model, "", 1, (root_ / "a").string()), Error);
  EXPECT_NO_THROW(SessionStore(*model, "", 1, ""));
}

}  // namespace
}  // namespace scanlab::serve
