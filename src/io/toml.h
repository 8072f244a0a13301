// TOML text -> JSON, and `--set key=value` overrides on that JSON. toml++ 3.3 does the parsing, but
// never sees a non-ASCII character (io/toml.cpp says why); errors name the origin, line and column.
#pragma once
#include <nlohmann/json.hpp>

#include <string>

namespace scanlab::io {

// TOML text -> JSON (tables -> objects, arrays -> arrays; dates are rejected). `origin` names the file.
nlohmann::json toml_to_json(const std::string& toml_text, const std::string& origin);
// Applies "a.b.c=value"; value is read as a TOML value (1e-3, true, [4, 8], "s") or else as a bare string.
void apply_override(nlohmann::json& root, const std::string& assignment);

}  // namespace scanlab::io
