// The parsers a user feeds, as libFuzzer entry points: each takes arbitrary bytes, runs the same
// function the CLI runs on a file of that kind, and returns 0. A clean refusal (scanlab::Error, or the
// server's RequestError) is a pass; any other exception, a crash or a sanitizer report is a finding.
// The libFuzzer executables (fuzz/CMakeLists.txt, SCANLAB_FUZZ=ON) and the regression replay in the
// test suite (tests/fuzz/test_fuzz_replay.cpp) call these same functions.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace scanlab::fuzz {

using FuzzEntry = int (*)(const uint8_t* data, size_t size);

struct FuzzTarget {
  std::string name;  // folder under fuzz/corpus/, fuzz/regressions/ and the dictionary fuzz/dict/<name>.dict
  FuzzEntry entry;
};

int fuzz_safetensors(const uint8_t* data, size_t size);    // io::decode_safetensors
int fuzz_npz(const uint8_t* data, size_t size);            // nar::decode_npz
int fuzz_nar_dataset(const uint8_t* data, size_t size);    // nar::decode_dataset
int fuzz_toml_config(const uint8_t* data, size_t size);    // io::toml_to_json + parse_experiment
int fuzz_model_config(const uint8_t* data, size_t size);   // a model file whose config JSON is the input
int fuzz_stream_state(const uint8_t* data, size_t size);   // generate --resume-state: byte 0 picks the model
int fuzz_gpt2_bpe(const uint8_t* data, size_t size);       // Gpt2Bpe::encode (needs data/cache/gpt2)
int fuzz_token_ids(const uint8_t* data, size_t size);      // io::parse_token_ids
int fuzz_serve_request(const uint8_t* data, size_t size);  // serve::parse_request (byte 0: the kind)

// The refusal the last entry-point call of this thread ended with (its message); "" when it accepted
// its input. The replay test requires every input under fuzz/regressions/ to be refused.
const std::string& last_refusal();

// Every target of this build (fuzz_serve_request only where scanlab serve is built).
const std::vector<FuzzTarget>& fuzz_targets();

// Whether fuzz_gpt2_bpe has its vocabulary (scripts/fetch_data.sh); without it the target returns at once.
bool gpt2_bpe_available();

// Inputs scanlab itself writes, one list per target: the seed corpus (fuzz/corpus/<name>/) is these.
std::vector<std::string> fuzz_seeds(const std::string& target);

}  // namespace scanlab::fuzz
