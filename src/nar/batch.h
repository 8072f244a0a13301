// Batches in CLRS shapes, batch first: inputs and outputs [B, ...], hints [B, T, ...] with T the
// longest trajectory and shorter ones zero padded; `lengths[b]` is sample b's true T. (CLRS keeps
// hints time-major, [T, B, ...]: a transpose of the first two axes.)
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "nar/probes.h"

namespace scanlab::nar {

struct Batch {
  std::string algorithm;
  int64_t nodes = 0;
  std::vector<int64_t> lengths;  // [B]
  std::vector<Datapoint> data;   // spec order; value shapes carry the batch (and time) axes

  int64_t size() const { return static_cast<int64_t>(lengths.size()); }
  int64_t max_length() const;
  Spec spec() const;
  const Datapoint& get(const std::string& name) const;
};

// All trajectories must share algorithm, spec and node count (else scanlab::Error).
Batch make_batch(const std::vector<Trajectory>& samples);
// Sample b without padding; validated.
Trajectory unbatch(const Batch& batch, int64_t b);

// at::Tensor view of a batch for the GNN: pointer types int64 (indices), all others float32.
struct BatchTensors {
  std::map<std::string, at::Tensor> inputs, hints, outputs;
  at::Tensor lengths;  // [B] int64
  Spec spec;
};
BatchTensors to_tensors(const Batch& batch, c10::Device device = c10::Device(c10::kCPU));

}  // namespace scanlab::nar
