// Strict reading of a configuration section (a JSON object made from TOML): every key a reader asks
// for is checked for type and range, and finish() turns any key nobody asked for into an error that
// names it and lists the allowed keys. Paths in messages are dotted ("train.lr").
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace scanlab::config {

class StrictSection {
 public:
  // `section` must be an object (or null: an empty section); `path` names it in messages.
  StrictSection(const nlohmann::json& section, std::string path);

  bool has(const std::string& key) const;
  void read(const std::string& key, int64_t& out);
  void read(const std::string& key, uint64_t& out);
  void read(const std::string& key, double& out);
  void read(const std::string& key, bool& out);
  void read(const std::string& key, std::string& out);
  void read(const std::string& key, std::vector<int64_t>& out);
  // A string that must be one of `allowed`.
  void read_choice(const std::string& key, std::string& out, const std::vector<std::string>& allowed);
  // The same with a numeric lower bound (inclusive); out keeps its default when the key is absent.
  void read_at_least(const std::string& key, int64_t& out, int64_t min);
  void read_at_least(const std::string& key, double& out, double min);
  // Marks a key as known without reading it (a sub-reader handles it).
  void allow(const std::string& key);
  // Throws for keys present but never read or allowed.
  void finish() const;

  std::string where(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

 private:
  const nlohmann::json* get(const std::string& key);
  nlohmann::json section_;  // a copy: callers often pass temporaries
  std::string path_;
  std::set<std::string> known_;
};

}  // namespace scanlab::config
