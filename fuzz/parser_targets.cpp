// The entry points whose parsers need no LibTorch: npz, token files and the GPT-2 BPE tokenizer.
// The quick fuzz build (fuzz/quick/, run by fuzz/run_ci.sh in CI) compiles this file with only
// those parsers' sources; the full build (SCANLAB_FUZZ=ON) and the replay test link it beside
// fuzz_targets.cpp.
#include <memory>

#include "fuzz_targets.h"
#include "io/token_files.h"
#include "nar/npz.h"
#include "refusal.h"
#include "tokenize/gpt2_bpe.h"
#include "tokenize/tokenizer.h"

namespace scanlab::fuzz {
namespace {

const tokenize::Gpt2Bpe* gpt2_bpe() {
  static const std::unique_ptr<tokenize::Gpt2Bpe> bpe = []() -> std::unique_ptr<tokenize::Gpt2Bpe> {
    try {
      return std::make_unique<tokenize::Gpt2Bpe>(tokenize::kDefaultBpeDir);
    } catch (const Error&) {
      return nullptr;
    }
  }();
  return bpe.get();
}

}  // namespace

std::string& refusal_slot() {
  thread_local std::string refusal;
  return refusal;
}

const std::string& last_refusal() { return refusal_slot(); }

int fuzz_npz(const uint8_t* data, size_t size) {
  return refusal_is_fine([&] { nar::decode_npz(bytes_of(data, size), "fuzz"); });
}

int fuzz_gpt2_bpe(const uint8_t* data, size_t size) {
  const tokenize::Gpt2Bpe* bpe = gpt2_bpe();
  refusal_slot().clear();
  if (!bpe) return 0;
  return refusal_is_fine([&] { bpe->encode(bytes_of(data, size)); });
}

int fuzz_token_ids(const uint8_t* data, size_t size) {
  return refusal_is_fine([&] { io::parse_token_ids(bytes_of(data, size), "fuzz"); });
}

bool gpt2_bpe_available() { return gpt2_bpe() != nullptr; }

}  // namespace scanlab::fuzz
