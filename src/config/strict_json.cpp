#include "config/strict_json.h"

#include <cmath>
#include <limits>

#include "core/check.h"

namespace scanlab::config {

StrictSection::StrictSection(const nlohmann::json& section, std::string path)
    : section_(section.is_null() ? nlohmann::json::object() : section), path_(std::move(path)) {
  SCANLAB_CHECK(section_.is_object(), "config: [", path_, "] must be a table, got ", section_.dump());
}

bool StrictSection::has(const std::string& key) const { return section_.contains(key); }

const nlohmann::json* StrictSection::get(const std::string& key) {
  known_.insert(key);
  auto it = section_.find(key);
  return it == section_.end() ? nullptr : &*it;
}

void StrictSection::read(const std::string& key, int64_t& out) {
  if (auto* v = get(key)) {
    SCANLAB_CHECK(v->is_number_integer(), "config: ", where(key), " = ", v->dump(), " must be an integer");
    out = v->get<int64_t>();
  }
}

void StrictSection::read(const std::string& key, uint64_t& out) {
  if (auto* v = get(key)) {
    SCANLAB_CHECK(v->is_number_integer() && v->get<int64_t>() >= 0, "config: ", where(key), " = ", v->dump(),
                  " must be a non-negative integer");
    out = v->get<uint64_t>();
  }
}

void StrictSection::read(const std::string& key, double& out) {
  if (auto* v = get(key)) {
    // Float32's range: options become float32 scalars (learning rates, model sizes in float ops), and
    // 1e300 then failed as an "unexpected error" deep in torch.
    SCANLAB_CHECK(v->is_number() && std::isfinite(v->get<double>()) &&
                      std::abs(v->get<double>()) <= std::numeric_limits<float>::max(),
                  "config: ", where(key), " = ", v->dump(), " must be a finite number within float32's range (|x| <= ",
                  std::numeric_limits<float>::max(), ")");
    out = v->get<double>();
  }
}

void StrictSection::read(const std::string& key, bool& out) {
  if (auto* v = get(key)) {
    SCANLAB_CHECK(v->is_boolean(), "config: ", where(key), " = ", v->dump(), " must be true or false");
    out = v->get<bool>();
  }
}

void StrictSection::read(const std::string& key, std::string& out) {
  if (auto* v = get(key)) {
    SCANLAB_CHECK(v->is_string(), "config: ", where(key), " = ", v->dump(), " must be a string");
    out = v->get<std::string>();
  }
}

void StrictSection::read(const std::string& key, std::vector<int64_t>& out) {
  if (auto* v = get(key)) {
    bool ok = v->is_array();
    if (ok)
      for (const auto& x : *v) ok &= x.is_number_integer();
    SCANLAB_CHECK(ok, "config: ", where(key), " = ", v->dump(), " must be an array of integers, e.g. [4, 8, 18]");
    out = v->get<std::vector<int64_t>>();
  }
}

void StrictSection::read_choice(const std::string& key, std::string& out, const std::vector<std::string>& allowed) {
  read(key, out);
  for (const auto& a : allowed)
    if (a == out) return;
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  SCANLAB_CHECK(false, "config: ", where(key), " = \"", out, "\" is not allowed; expected one of: ", list);
}

void StrictSection::read_at_least(const std::string& key, int64_t& out, int64_t min) {
  read(key, out);
  SCANLAB_CHECK(out >= min, "config: ", where(key), " = ", out, " must be >= ", min);
}

void StrictSection::read_at_least(const std::string& key, double& out, double min) {
  read(key, out);
  SCANLAB_CHECK(out >= min, "config: ", where(key), " = ", out, " must be >= ", min);
}

void StrictSection::allow(const std::string& key) { known_.insert(key); }

void StrictSection::finish() const {
  for (auto it = section_.begin(); it != section_.end(); ++it) {
    if (known_.count(it.key())) continue;
    std::string list;
    for (const auto& k : known_) list += (list.empty() ? "" : ", ") + k;
    SCANLAB_CHECK(false, "config: unknown key '", where(it.key()), "'; allowed keys in [", path_, "]: ", list);
  }
}

}  // namespace scanlab::config
