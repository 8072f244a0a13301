// Reads a model's options struct from its JSON configuration, strictly: every key must be known,
// every value must have the right type and range, and the error names the key, what arrived and
// what is allowed. Each model's options_from_json is a list of read() calls followed by finish().
//
// Example:
//   ConfigReader r(config, "gpt2");
//   r.read_int("n_embd", o.n_embd, /*min=*/1);
//   r.read_choice("agg_mask", o.agg_mask, {"bidirectional", "causal"});
//   r.finish();  // rejects keys nobody read
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace scanlab::models {

// The largest chunk length a config may ask for: a sequence shorter than its chunk is padded to it,
// so a chunk of 2^62 tokens was an allocation of 2^62 x width.
constexpr int64_t kMaxChunkLength = int64_t{1} << 16;

class ConfigReader {
 public:
  // config must be an object whose "model" field (if present) equals `model`.
  ConfigReader(const nlohmann::json& config, std::string model);

  void read_int(const std::string& key, int64_t& field, int64_t min);
  void read_int(const std::string& key, int64_t& field, int64_t min, int64_t max);
  void read_real_above(const std::string& key, double& field, double min_exclusive);
  // Overloads by field type (used by the affine family's option structs).
  void read(const std::string& key, int64_t& field, int64_t min) { read_int(key, field, min); }
  void read(const std::string& key, double& field, double min_exclusive) { read_real_above(key, field, min_exclusive); }
  void read_probability(const std::string& key, double& field);  // in [0, 1)
  void read_bool(const std::string& key, bool& field);
  void read_choice(const std::string& key, std::string& field, const std::vector<std::string>& allowed);
  // Throws naming every key that no read_*() call asked for, and the keys that are known.
  void finish() const;

 private:
  const nlohmann::json* find(const std::string& key);
  [[noreturn]] void bad_value(const std::string& key, const std::string& expected) const;

  const nlohmann::json& config_;
  std::string model_;
  std::set<std::string> known_{"model"};
};

}  // namespace scanlab::models
