// Names of stages, locations and types as CLRS spells them (they appear in files and errors).
#include "nar/spec.h"

#include <array>

#include "core/check.h"

namespace scanlab::nar {
namespace {

constexpr std::array<const char*, 3> kStageNames{"input", "output", "hint"};
constexpr std::array<const char*, 3> kLocationNames{"node", "edge", "graph"};
constexpr std::array<const char*, 8> kTypeNames{
    "scalar",      "categorical", "mask", "mask_one", "pointer", "should_be_permutation", "permutation_pointer",
    "soft_pointer"};

template <class Enum, size_t K>
Enum parse_name(const std::string& s, const std::array<const char*, K>& names, const char* what) {
  std::string accepted;
  for (size_t i = 0; i < K; ++i) {
    if (s == names[i]) return static_cast<Enum>(i);
    accepted += (i ? ", " : "") + std::string(names[i]);
  }
  throw Error(detail::concat("'", s, "' is not a ", what, "; expected one of ", accepted));
}

}  // namespace

std::string to_string(Stage s) { return kStageNames.at(static_cast<size_t>(s)); }
std::string to_string(Location l) { return kLocationNames.at(static_cast<size_t>(l)); }
std::string to_string(Type t) { return kTypeNames.at(static_cast<size_t>(t)); }
Stage parse_stage(const std::string& s) { return parse_name<Stage>(s, kStageNames, "stage"); }
Location parse_location(const std::string& s) { return parse_name<Location>(s, kLocationNames, "location"); }
Type parse_type(const std::string& s) { return parse_name<Type>(s, kTypeNames, "type"); }

bool holds_indices(Type t) { return t == Type::Pointer || t == Type::ShouldBePermutation; }

const SpecEntry& spec_entry(const Spec& spec, const std::string& name) {
  for (const auto& e : spec)
    if (e.name == name) return e;
  throw Error(detail::concat("no datapoint '", name, "' in the spec"));
}

}  // namespace scanlab::nar
