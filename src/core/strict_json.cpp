#include "core/strict_json.h"

#include <cmath>
#include <limits>
#include <sstream>

#include "core/check.h"
#include "core/text.h"

namespace scanlab {
namespace {

constexpr double kFloatMax = std::numeric_limits<float>::max();

bool is_finite_float(const nlohmann::json& v) {
  return v.is_number() && std::isfinite(v.get<double>()) && std::abs(v.get<double>()) <= kFloatMax;
}

std::string number(double x) {
  std::ostringstream os;
  os << x;
  return os.str();
}

}  // namespace

StrictJson::StrictJson(const nlohmann::json& object, std::string context, std::string path)
    : object_(object.is_null() ? nlohmann::json::object() : object),
      context_(std::move(context)),
      path_(std::move(path)) {
  SCANLAB_CHECK(object_.is_object(), context_, ": ", path_.empty() ? "the configuration" : "[" + path_ + "]",
                " must be a JSON object (a table), got ", object_.dump());
}

const nlohmann::json* StrictJson::get(const std::string& key) {
  known_.insert(key);
  auto it = object_.find(key);
  return it == object_.end() ? nullptr : &*it;
}

void StrictJson::fail(const std::string& key, const std::string& expected) const {
  SCANLAB_FAIL(context_, ": '", where(key), "' is ", object_.at(key).dump(), "; expected ", expected);
}

void StrictJson::read(const std::string& key, int64_t& out) {
  if (auto* v = get(key)) {
    if (!v->is_number_integer()) fail(key, "an integer");
    out = v->get<int64_t>();
  }
}

void StrictJson::read(const std::string& key, uint64_t& out) {
  if (auto* v = get(key)) {
    if (!v->is_number_integer() || (!v->is_number_unsigned() && v->get<int64_t>() < 0))
      fail(key, "a non-negative integer");
    out = v->get<uint64_t>();
  }
}

void StrictJson::read(const std::string& key, double& out) {
  if (auto* v = get(key)) {
    // Options become float32 scalars (learning rates, sizes in float ops): 1e300 once failed as an
    // "unexpected error" deep in torch.
    if (!is_finite_float(*v)) fail(key, "a finite number within float32's range (|x| <= " + number(kFloatMax) + ")");
    out = v->get<double>();
  }
}

void StrictJson::read(const std::string& key, bool& out) {
  if (auto* v = get(key)) {
    if (!v->is_boolean()) fail(key, "true or false");
    out = v->get<bool>();
  }
}

void StrictJson::read(const std::string& key, std::string& out) {
  if (auto* v = get(key)) {
    if (!v->is_string()) fail(key, "a string");
    out = v->get<std::string>();
  }
}

void StrictJson::read(const std::string& key, std::vector<int64_t>& out) {
  if (auto* v = get(key)) {
    bool ok = v->is_array();
    if (ok)
      for (const auto& x : *v) ok &= x.is_number_integer();
    if (!ok) fail(key, "an array of integers, e.g. [4, 8, 18]");
    out = v->get<std::vector<int64_t>>();
  }
}

void StrictJson::read_at_least(const std::string& key, int64_t& out, int64_t min) {
  if (auto* v = get(key)) {
    if (!v->is_number_integer() || v->get<int64_t>() < min) fail(key, "an integer >= " + std::to_string(min));
    out = v->get<int64_t>();
  }
}

void StrictJson::read_at_least(const std::string& key, double& out, double min) {
  if (auto* v = get(key)) {
    if (!is_finite_float(*v) || v->get<double>() < min) fail(key, "a finite number >= " + number(min));
    out = v->get<double>();
  }
}

void StrictJson::read_in(const std::string& key, int64_t& out, int64_t min, int64_t max) {
  if (auto* v = get(key)) {
    if (!v->is_number_integer() || v->get<int64_t>() < min || v->get<int64_t>() > max)
      fail(key, "an integer from " + std::to_string(min) + " to " + std::to_string(max));
    out = v->get<int64_t>();
  }
}

void StrictJson::read_above(const std::string& key, double& out, double min_exclusive) {
  if (auto* v = get(key)) {
    if (!is_finite_float(*v) || !(v->get<double>() > min_exclusive))
      fail(key, "a finite number > " + number(min_exclusive));
    out = v->get<double>();
  }
}

void StrictJson::read_probability(const std::string& key, double& out) {
  if (auto* v = get(key)) {
    if (!v->is_number() || !(v->get<double>() >= 0 && v->get<double>() < 1)) fail(key, "a number in [0, 1)");
    out = v->get<double>();
  }
}

void StrictJson::read_choice(const std::string& key, std::string& out, const std::vector<std::string>& allowed) {
  if (auto* v = get(key)) {
    if (v->is_string())
      for (const auto& a : allowed)
        if (a == v->get<std::string>()) {
          out = a;
          return;
        }
    fail(key, "one of " + join(allowed, ", ", "\""));
  }
}

void StrictJson::expect(const std::string& key, const std::string& value) {
  if (auto* v = get(key))
    if (!v->is_string() || v->get<std::string>() != value) fail(key, "\"" + value + "\"");
}

void StrictJson::finish() const {
  std::vector<std::string> unknown;
  for (auto it = object_.begin(); it != object_.end(); ++it)
    if (!known_.count(it.key())) unknown.push_back(where(it.key()));
  SCANLAB_CHECK(unknown.empty(), context_, ": unknown key(s) ", join(unknown, ", ", "'"), "; known keys",
                path_.empty() ? "" : " in [" + path_ + "]", ": ", join(known_));
}

}  // namespace scanlab
