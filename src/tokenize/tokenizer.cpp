#include "tokenize/tokenizer.h"

#include <c10/util/hash.h>

#include <filesystem>

#include "core/atomic_file.h"
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
  SCANLAB_FAIL("unknown tokenizer '", kind, "'; expected byte or gpt2");
}

namespace {

constexpr const char* kBpeFiles[] = {"encoder.json", "vocab.bpe"};

std::string file_sha1(const std::filesystem::path& path) {
  SCANLAB_CHECK(std::filesystem::is_regular_file(path), "GPT-2 tokenizer file '", path.string(),
                "' is missing; run scripts/fetch_data.sh or pass the folder that holds encoder.json and vocab.bpe");
  return c10::sha1(read_file(path.string())).str();
}

std::string kind_of(const nlohmann::json& d) {
  SCANLAB_CHECK(d.is_object() && d.contains("kind") && d["kind"].is_string(), "tokenizer description ", d.dump(),
                " has no \"kind\"; expected byte, gpt2 or none");
  const std::string kind = d["kind"].get<std::string>();
  SCANLAB_CHECK(kind == "byte" || kind == "gpt2" || kind == "none", "tokenizer description ", d.dump(), " has kind '",
                kind, "'; expected byte, gpt2 or none");
  SCANLAB_CHECK(!d.contains("task") || d["task"].is_string(), "tokenizer description ", d.dump(),
                " has a \"task\" that is not a string");
  return kind;
}

std::filesystem::path bpe_folder(const std::string& bpe_dir) { return bpe_dir.empty() ? kDefaultBpeDir : bpe_dir; }

}  // namespace

nlohmann::json describe_tokenizer(const std::string& kind, const std::string& bpe_dir) {
  if (kind == "byte") return {{"kind", "byte"}};
  SCANLAB_CHECK(kind == "gpt2", "unknown tokenizer '", kind, "'; expected byte or gpt2");
  nlohmann::json files;
  for (const char* f : kBpeFiles) files[f] = file_sha1(bpe_folder(bpe_dir) / f);
  return {{"kind", "gpt2"}, {"files", files}};
}

nlohmann::json no_tokenizer(const std::string& task) { return {{"kind", "none"}, {"task", task}}; }

std::unique_ptr<Tokenizer> tokenizer_from_description(const nlohmann::json& d, const std::string& bpe_dir) {
  const std::string kind = kind_of(d);
  if (kind == "none") return nullptr;
  if (kind == "byte") return std::make_unique<ByteTokenizer>();
  SCANLAB_CHECK(kind == "gpt2", "unknown tokenizer kind '", kind, "' in ", d.dump(), "; expected byte, gpt2 or none");
  SCANLAB_CHECK(d.contains("files") && d["files"].is_object(), "GPT-2 tokenizer description ", d.dump(),
                " lacks the hashes of its files");
  for (const char* f : kBpeFiles) {
    SCANLAB_CHECK(d["files"].contains(f) && d["files"][f].is_string(), "GPT-2 tokenizer description lacks the hash of ",
                  f);
    const std::string have = file_sha1(bpe_folder(bpe_dir) / f), want = d["files"][f].get<std::string>();
    SCANLAB_CHECK(have == want, "GPT-2 tokenizer file '", (bpe_folder(bpe_dir) / f).string(), "' has SHA-1 ", have,
                  " but the model was built with ", want, "; point --bpe-dir at the files it was trained with");
  }
  return std::make_unique<Gpt2Bpe>(bpe_folder(bpe_dir).string());
}

std::string tokenizer_summary(const nlohmann::json& d) {
  const std::string kind = kind_of(d);
  if (kind == "byte") return "byte-level";
  if (kind == "gpt2") return "GPT-2 BPE";
  return "none (token ids only" + (d.contains("task") ? ", task " + d["task"].get<std::string>() : std::string()) + ")";
}

std::optional<int64_t> end_of_text_id(const nlohmann::json& d) {
  if (kind_of(d) == "gpt2") return kGpt2EndOfText;
  return std::nullopt;
}

}  // namespace scanlab::tokenize
