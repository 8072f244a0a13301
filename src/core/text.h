// Small text helpers: trimming the lines of line-oriented files, joining names for messages.
#pragma once
#include <string>

namespace scanlab {

// `s` without leading and trailing spaces, tabs and carriage returns.
inline std::string trim_blanks(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

// The items separated by `sep`, each between `quote`s: join({"a", "b"}, ", ", "'") is "'a', 'b'".
template <class Items>
std::string join(const Items& items, const std::string& sep = ", ", const std::string& quote = "") {
  std::string out;
  bool first = true;
  for (const auto& item : items) {
    out += (first ? "" : sep) + quote + std::string(item) + quote;
    first = false;
  }
  return out;
}

}  // namespace scanlab
