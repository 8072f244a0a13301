// A closed choice that configs spell as a word (position_mode = "chunk_local"): the enum a model or
// command holds, and its names, read strictly once (an unknown word lists the allowed ones, through
// StrictJson::read_choice) and written back the same way. The enum, not the word, reaches the code
// that runs per token.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "core/check.h"
#include "core/strict_json.h"

namespace scanlab {

template <class E>
class EnumNames {
 public:
  EnumNames(std::initializer_list<std::pair<std::string, E>> names) : names_(names) {}

  const std::string& name(E value) const {
    for (const auto& [word, v] : names_)
      if (v == value) return word;
    SCANLAB_FAIL("EnumNames: value ", static_cast<int>(value), " has no name");
  }

  std::vector<std::string> words() const {
    std::vector<std::string> out;
    for (const auto& entry : names_) out.push_back(entry.first);
    return out;
  }

  // `out` keeps its value when the key is absent.
  void read(StrictJson& r, const std::string& key, E& out) const {
    std::string word = name(out);
    r.read_choice(key, word, words());
    for (const auto& [w, v] : names_)
      if (w == word) out = v;
  }

 private:
  std::vector<std::pair<std::string, E>> names_;
};

}  // namespace scanlab
