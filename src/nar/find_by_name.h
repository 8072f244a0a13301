// Registry lookup shared by the nar registries: the entry called `name`, or an error that lists
// every known name, so a typo on the command line shows what was meant.
#pragma once
#include <string>
#include <vector>

#include "core/check.h"

namespace scanlab::nar {

template <class Entry>
const Entry& find_by_name(const std::vector<Entry>& registry, const std::string& name, const char* what) {
  std::string known;
  for (const auto& e : registry) {
    if (e.name == name) return e;
    known += (known.empty() ? "" : ", ") + e.name;
  }
  throw Error(detail::concat("unknown ", what, " '", name, "'; known ", what, "s: ", known));
}

}  // namespace scanlab::nar
