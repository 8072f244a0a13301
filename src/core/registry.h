// The one lookup every registry uses (models, tasks, NAR algorithms, samplers, processors): the entry
// called `name`, or an error that lists every known name, so a typo on the command line shows what
// was meant. An entry is any struct with a `name` string.
#pragma once
#include <string>
#include <vector>

#include "core/check.h"
#include "core/text.h"

namespace scanlab {

template <class Entry>
const Entry& find_by_name(const std::vector<Entry>& registry, const std::string& name, const std::string& what) {
  std::vector<std::string> known;
  for (const auto& e : registry) {
    if (e.name == name) return e;
    known.push_back(e.name);
  }
  SCANLAB_FAIL("unknown ", what, " '", name, "'; known ", what, "s: ", known.empty() ? "(none)" : join(known));
}

// The registry's names, in its order.
template <class Entry>
std::vector<std::string> names_of(const std::vector<Entry>& registry) {
  std::vector<std::string> out;
  for (const auto& e : registry) out.push_back(e.name);
  return out;
}

}  // namespace scanlab
