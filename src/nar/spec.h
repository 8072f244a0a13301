// CLRS data model: a spec maps every datapoint name to (stage, location, type).
// Values are plain row-major double arrays; pointer types hold node indices stored as doubles.
// Per-sample shapes (N = nodes, C = categories): node [N] / [N, C]; edge [N, N] / [N, N, C];
// graph [] / [C]; permutation_pointer and soft_pointer add a trailing N (one row per node).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace scanlab::nar {

enum class Stage { Input, Output, Hint };
enum class Location { Node, Edge, Graph };
enum class Type {
  Scalar,
  Categorical,
  Mask,
  MaskOne,
  Pointer,
  ShouldBePermutation,
  PermutationPointer,
  SoftPointer,
};

// OutputClass of CLRS: the values a mask / mask_one / categorical entry may take.
constexpr double kPositive = 1.0;
constexpr double kNegative = 0.0;
constexpr double kMasked = -1.0;

struct SpecEntry {
  std::string name;
  Stage stage;
  Location location;
  Type type;
  bool operator==(const SpecEntry& o) const {
    return name == o.name && stage == o.stage && location == o.location && type == o.type;
  }
};

// Ordered: the order of a spec is the order of arrays in files and batches.
using Spec = std::vector<SpecEntry>;

std::string to_string(Stage s);
std::string to_string(Location l);
std::string to_string(Type t);
// Inverse of to_string; throws scanlab::Error naming the value and the accepted ones.
Stage parse_stage(const std::string& s);
Location parse_location(const std::string& s);
Type parse_type(const std::string& s);

// Integer node indices (pointer, should_be_permutation): int64 in tensors and files.
bool holds_indices(Type t);

// Throws scanlab::Error when `name` is not in the spec.
const SpecEntry& spec_entry(const Spec& spec, const std::string& name);

}  // namespace scanlab::nar
