// TOML text -> JSON through toml++ (io/toml.h).
#include "io/toml.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <sstream>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/utf8.h"

namespace scanlab::io {
namespace {

// toml++ 3.3 reaches TOML_UNREACHABLE (undefined behaviour) when it tests a character from U+00A1
// to U+0499 for whitespace, which it does in quoted keys, in the tokens it reads past an error and
// elsewhere (fuzz_toml_config found three ways in: fuzz/regressions/toml_config/). So it never sees
// a non-ASCII character: each goes in as "~u" and 6 hex digits, and '~' itself as "~~". TOML code
// has no '~', so only strings and comments change (a non-ASCII character in code still fails to
// parse, as '~'); the keys and strings toml++ returns are decoded back.
std::string to_toml_ascii(const std::string& utf8) {
  std::string out;
  for (size_t i = 0; i < utf8.size();) {
    if (utf8[i] == '~') {
      out += "~~";
      ++i;
    } else if (static_cast<unsigned char>(utf8[i]) < 0x80) {
      out += utf8[i++];
    } else {
      out += fmt::format("~u{:06X}", next_code_point(utf8, i));  // well-formed: checked by first_invalid_utf8
    }
  }
  return out;
}

std::string from_toml_ascii(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '~' && i + 1 < s.size() && s[i + 1] == '~') {
      out += '~';
      ++i;
    } else if (s[i] == '~' && i + 7 < s.size() && s[i + 1] == 'u' &&
               s.find_first_not_of("0123456789ABCDEF", i + 2) >= i + 8) {
      append_utf8(out, static_cast<uint32_t>(std::stoul(s.substr(i + 2, 6), nullptr, 16)));
      i += 7;
    } else {
      out += s[i];  // a lone '~' (toml++'s own message text): as it is
    }
  }
  return out;
}

// toml++ parses `text` (already checked as UTF-8 without NUL) through the ASCII form above. A string
// escape that spells '~' (\u007E) would decode to a '~' the decoding then misreads: refused.
toml::table parse_toml(const std::string& text, const std::string& origin) {
  std::string lower = text;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  SCANLAB_CHECK(lower.find("\\u007e") == std::string::npos && lower.find("\\u0000007e") == std::string::npos,
                "config: ", origin, " spells '~' as the escape \\u007E; write '~' itself");
  return toml::parse(to_toml_ascii(text), origin);
}

nlohmann::json node_to_json(const toml::node& node, const std::string& where) {
  if (auto* t = node.as_table()) {
    auto obj = nlohmann::json::object();
    for (auto&& [k, v] : *t) {
      const std::string key = from_toml_ascii(std::string(k.str()));
      obj[key] = node_to_json(v, where + "." + key);
    }
    return obj;
  }
  if (auto* a = node.as_array()) {
    auto arr = nlohmann::json::array();
    for (auto&& v : *a) arr.push_back(node_to_json(v, where));
    return arr;
  }
  if (auto* v = node.as_integer()) return v->get();
  if (auto* v = node.as_floating_point()) return v->get();
  if (auto* v = node.as_boolean()) return v->get();
  if (auto* v = node.as_string()) return from_toml_ascii(v->get());
  SCANLAB_FAIL("config: ", where, " is a date/time; expected a number, string, boolean, array or table");
}

// Text toml++ must never see: not UTF-8, or with a NUL byte (toml++ 3.3 misbehaves on a lone 0xA7
// and on '[' then NUL). `what` names the text.
void check_utf8_text(const std::string& text, const std::string& what) {
  const size_t bad = first_invalid_utf8(text), nul = text.find('\0');
  SCANLAB_CHECK(bad == std::string::npos, "config: ", what, " is not UTF-8 text (byte ", bad,
                "); expected a UTF-8 TOML file");
  SCANLAB_CHECK(nul == std::string::npos, "config: ", what, " holds a NUL byte at offset ", nul,
                "; expected a text file");
}

}  // namespace

nlohmann::json toml_to_json(const std::string& toml_text, const std::string& origin) {
  check_utf8_text(toml_text, origin);
  try {
    return node_to_json(parse_toml(toml_text, origin), origin);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << from_toml_ascii(std::string(e.description())) << " (line " << e.source().begin.line << ", column "
       << e.source().begin.column << ")";
    const bool ascii =
        std::none_of(toml_text.begin(), toml_text.end(), [](unsigned char c) { return c >= 0x80 || c == '~'; });
    SCANLAB_FAIL(
        "config: ", origin, " is not valid TOML: ", os.str(),
        ascii ? "" : " (toml++ read each non-ASCII character as ~u + 6 hex digits and '~' as ~~: columns count those)");
  }
}

void apply_override(nlohmann::json& root, const std::string& assignment) {
  const auto eq = assignment.find('=');
  SCANLAB_CHECK(eq != std::string::npos && eq > 0, "--set '", assignment, "': expected key=value, e.g. train.lr=3e-4");
  const std::string key = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  nlohmann::json value = text;  // a bare word such as S5 or gpt2, unless it reads as a TOML value
  check_utf8_text(assignment, "--set '" + assignment + "'");
  try {
    value = node_to_json(*parse_toml("v = " + text, "--set")["v"].node(), key);
  } catch (const toml::parse_error&) {
  }
  nlohmann::json* node = &root;
  std::stringstream parts(key);
  std::string part, walked;
  std::vector<std::string> path;
  while (std::getline(parts, part, '.')) path.push_back(part);
  for (size_t i = 0; i < path.size(); ++i) {
    SCANLAB_CHECK(!path[i].empty(), "--set '", assignment, "': empty key component");
    walked += (walked.empty() ? "" : ".") + path[i];
    if (i + 1 == path.size()) {
      (*node)[path[i]] = value;
    } else {
      if (!node->contains(path[i])) (*node)[path[i]] = nlohmann::json::object();
      node = &(*node)[path[i]];
      SCANLAB_CHECK(node->is_object(), "--set '", assignment, "': ", walked, " is a value, not a table");
    }
  }
}

}  // namespace scanlab::io
