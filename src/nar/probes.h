// Probe recording (CLRS): an algorithm pushes one snapshot per stage -- inputs once, hints
// once per step, outputs once -- and `finalize` stacks the hints over time into a Trajectory.
// Every pushed value is validated against its spec entry: shape for its location and type, mask
// values in {0, 1, -1}, mask_one / categorical rows one-hot, pointers inside [0, N).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "nar/spec.h"

namespace scanlab::nar {

// A row-major array of doubles with its shape (scalars have shape {}).
struct Array {
  std::vector<int64_t> shape;
  std::vector<double> data;
  int64_t numel() const;
  bool operator==(const Array& o) const { return shape == o.shape && data == o.data; }
};

// One datapoint of one sample. Hints carry a leading time axis: shape [T, ...].
struct Datapoint {
  SpecEntry entry;
  Array value;
};

// One execution of one algorithm on one input.
struct Trajectory {
  std::string algorithm;
  int64_t nodes = 0;            // N
  int64_t length = 0;           // T, the number of hint snapshots
  std::vector<Datapoint> data;  // spec order: inputs, hints and outputs as the spec lists them

  const Datapoint& get(const std::string& name) const;  // throws naming the missing datapoint
  Datapoint& get(const std::string& name);
  Spec spec() const;
};

using Snapshot = std::vector<std::pair<std::string, Array>>;

class ProbeRecorder {
 public:
  ProbeRecorder(std::string algorithm, Spec spec, int64_t nodes);
  // `values` must name every spec entry of `stage` exactly once (and nothing else); inputs and
  // outputs are pushed once, hints any number of times.
  void push(Stage stage, Snapshot values);
  // Requires inputs, outputs and at least one hint snapshot.
  Trajectory finalize() const;

 private:
  std::string algorithm_;
  Spec spec_;
  int64_t nodes_;
  std::vector<Snapshot> inputs_, outputs_, hints_;
};

// Per-sample shape of a value (no time axis) for an entry; `categories` is used by categorical.
std::vector<int64_t> value_shape(const SpecEntry& e, int64_t nodes, int64_t categories);
// Checks one value (no time axis) against its entry; `where` prefixes the error message.
void validate_value(const SpecEntry& e, int64_t nodes, const Array& value, const std::string& where);
// Checks a whole trajectory (hint time axes equal to `length`, every value valid).
void validate(const Trajectory& t);

// Helper probes (CLRS probing.py).
namespace probe {
Array scalar(double x);                                 // graph scalar / graph mask
Array values(const std::vector<double>& v);             // node scalars or mask
Array matrix(const std::vector<double>& m, int64_t n);  // edge values, m is n*n
Array mask_one(int64_t i, int64_t n);                   // one-hot over nodes
Array pointers(const std::vector<int64_t>& p);          // node pointer as indices
// Predecessor pointers of the array order A_pos: p[A_pos[i]] = A_pos[i-1], the first points to itself.
Array array_order(const std::vector<int64_t>& a_pos);
Array categorical(const std::vector<int64_t>& classes, int64_t categories);  // [N, C] one-hot
// (A + I) != 0 for an n x n adjacency.
Array graph(const std::vector<double>& adjacency, int64_t n);
std::vector<double> positions(int64_t count, int64_t divisor);  // i / divisor, the `pos` input
std::vector<int64_t> identity(int64_t n);                       // 0, 1, ..., n - 1
}  // namespace probe

}  // namespace scanlab::nar
