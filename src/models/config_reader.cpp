#include "models/config_reader.h"

#include "core/check.h"

namespace scanlab::models {

ConfigReader::ConfigReader(const nlohmann::json& config, std::string model) : config_(config), model_(std::move(model)) {
  SCANLAB_CHECK(config_.is_object(), model_, " config must be a JSON object, got ", config_.dump());
  if (config_.contains("model"))
    SCANLAB_CHECK(config_["model"] == model_, model_, " config has \"model\": ", config_["model"].dump(),
                  "; expected \"", model_, "\"");
}

const nlohmann::json* ConfigReader::find(const std::string& key) {
  known_.insert(key);
  auto it = config_.find(key);
  return it == config_.end() ? nullptr : &*it;
}

void ConfigReader::bad_value(const std::string& key, const std::string& expected) const {
  throw Error(model_ + " config key '" + key + "' is " + config_.at(key).dump() + "; expected " + expected);
}

void ConfigReader::read_real_above(const std::string& key, double& field, double min_exclusive) {
  const nlohmann::json* v = find(key);
  if (!v) return;
  if (!v->is_number() || !(v->get<double>() > min_exclusive))
    bad_value(key, "a number > " + std::to_string(min_exclusive));
  field = v->get<double>();
}

void ConfigReader::read_int(const std::string& key, int64_t& field, int64_t min) {
  const nlohmann::json* v = find(key);
  if (!v) return;
  if (!v->is_number_integer() || v->get<int64_t>() < min) bad_value(key, "an integer >= " + std::to_string(min));
  field = v->get<int64_t>();
}

void ConfigReader::read_int(const std::string& key, int64_t& field, int64_t min, int64_t max) {
  const nlohmann::json* v = find(key);
  if (!v) return;
  if (!v->is_number_integer() || v->get<int64_t>() < min || v->get<int64_t>() > max)
    bad_value(key, "an integer from " + std::to_string(min) + " to " + std::to_string(max));
  field = v->get<int64_t>();
}

void ConfigReader::read_probability(const std::string& key, double& field) {
  const nlohmann::json* v = find(key);
  if (!v) return;
  if (!v->is_number() || v->get<double>() < 0 || v->get<double>() >= 1) bad_value(key, "a number in [0, 1)");
  field = v->get<double>();
}

void ConfigReader::read_bool(const std::string& key, bool& field) {
  const nlohmann::json* v = find(key);
  if (!v) return;
  if (!v->is_boolean()) bad_value(key, "true or false");
  field = v->get<bool>();
}

void ConfigReader::read_choice(const std::string& key, std::string& field, const std::vector<std::string>& allowed) {
  const nlohmann::json* v = find(key);
  if (!v) return;
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "\"" : ", \"") + a + "\"";
  if (!v->is_string()) bad_value(key, "one of " + list);
  for (const auto& a : allowed)
    if (v->get<std::string>() == a) {
      field = a;
      return;
    }
  bad_value(key, "one of " + list);
}

void ConfigReader::finish() const {
  std::string unknown, known;
  for (auto it = config_.begin(); it != config_.end(); ++it)
    if (!known_.count(it.key())) unknown += (unknown.empty() ? "'" : ", '") + it.key() + "'";
  for (const auto& k : known_) known += (known.empty() ? "" : ", ") + k;
  SCANLAB_CHECK(unknown.empty(), model_, " config has unknown key(s) ", unknown, "; known keys: ", known);
}

}  // namespace scanlab::models
