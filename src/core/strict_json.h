// The one strict reader of JSON objects: experiment sections made from TOML, model configs, a
// checkpoint's progress. Every key a reader asks for is checked for type and range; finish() turns
// any key nobody asked for into an error naming it and the known keys. Messages read
//   <context>: 'train.lr' is -1; expected a number >= 0
//   transformer_psm config: unknown key(s) 'chunk_sise'; known keys: agg_mask, ...
// A key absent from the object leaves its field at the default.
//
// Example (a model's options):
//   StrictJson r(config, "transformer_psm config");
//   r.expect("model", "transformer_psm");
//   r.read_at_least("n_embd", o.n_embd, 1);
//   kAggMasks.read(r, "agg_mask", o.agg_mask);  // a closed choice, read once into its enum (core/enum_names.h)
//   r.finish();
// (read_choice keeps a closed choice as its word, for the few that stay strings: an LM task's
// "tokenizer", an eval section's "mode".)
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace scanlab {

class StrictJson {
 public:
  // `object` must be a JSON object (null reads as an empty one). `context` opens every message;
  // `path` prefixes the keys in messages ("train" gives 'train.lr'; empty gives 'lr').
  StrictJson(const nlohmann::json& object, std::string context, std::string path = "");

  bool has(const std::string& key) const { return object_.contains(key); }
  // Type only. Numbers are finite and within float32's range (options become float32 scalars).
  void read(const std::string& key, int64_t& out);
  void read(const std::string& key, uint64_t& out);
  void read(const std::string& key, double& out);
  void read(const std::string& key, bool& out);
  void read(const std::string& key, std::string& out);
  void read(const std::string& key, std::vector<int64_t>& out);
  // Bounded: min inclusive; read_in's max inclusive; read_above's bound exclusive; a probability in [0, 1).
  void read_at_least(const std::string& key, int64_t& out, int64_t min);
  void read_at_least(const std::string& key, double& out, double min);
  void read_in(const std::string& key, int64_t& out, int64_t min, int64_t max);
  void read_above(const std::string& key, double& out, double min_exclusive);
  void read_probability(const std::string& key, double& out);
  // A string that must be one of `allowed`.
  void read_choice(const std::string& key, std::string& out, const std::vector<std::string>& allowed);
  // A key that, when present, must hold exactly `value` (a model config's "model": its own name).
  void expect(const std::string& key, const std::string& value);
  // Marks a key as known without reading it (another reader handles it).
  void allow(const std::string& key) { known_.insert(key); }
  // Throws for keys present but never read, expected or allowed.
  void finish() const;

  // The key as messages show it ("train.lr").
  std::string where(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  // Throws "<context>: '<where(key)>' is <value>; expected <expected>".
  [[noreturn]] void fail(const std::string& key, const std::string& expected) const;

 private:
  const nlohmann::json* get(const std::string& key);

  nlohmann::json object_;  // a copy: callers often pass temporaries
  std::string context_;
  std::string path_;
  std::set<std::string> known_;
};

}  // namespace scanlab
