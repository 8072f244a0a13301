// Padding trajectories into batches, and the tensor view.
#include "nar/batch.h"

#include <algorithm>

#include "core/check.h"

namespace scanlab::nar {

int64_t Batch::max_length() const { return lengths.empty() ? 0 : *std::max_element(lengths.begin(), lengths.end()); }

Spec Batch::spec() const {
  Spec s;
  for (const auto& d : data) s.push_back(d.entry);
  return s;
}

const Datapoint& Batch::get(const std::string& name) const {
  for (const auto& d : data)
    if (d.entry.name == name) return d;
  throw Error(detail::concat("batch of ", algorithm, " has no datapoint '", name, "'"));
}

Batch make_batch(const std::vector<Trajectory>& samples) {
  SCANLAB_CHECK(!samples.empty(), "cannot batch zero trajectories");
  const auto& first = samples.front();
  Batch b;
  b.algorithm = first.algorithm;
  b.nodes = first.nodes;
  const auto spec = first.spec();
  for (size_t i = 0; i < samples.size(); ++i) {
    const auto& t = samples[i];
    SCANLAB_CHECK(t.algorithm == b.algorithm && t.nodes == b.nodes && t.spec() == spec, "trajectory ", i, " (",
                  t.algorithm, ", n = ", t.nodes, ") does not match trajectory 0 (", b.algorithm, ", n = ", b.nodes,
                  "): a batch needs one algorithm, spec and node count");
    b.lengths.push_back(t.length);
  }
  const int64_t T = b.max_length();
  const auto B = static_cast<int64_t>(samples.size());
  for (size_t k = 0; k < spec.size(); ++k) {
    Datapoint d{spec[k], {}};
    const auto& shape0 = first.data[k].value.shape;
    const bool hint = spec[k].stage == Stage::Hint;
    // Categorical values may differ in C only if the spec were broken; shapes must agree.
    for (const auto& t : samples) {
      const auto& s = t.data[k].value.shape;
      SCANLAB_CHECK(std::equal(s.begin() + hint, s.end(), shape0.begin() + hint, shape0.end()), "datapoint '",
                    spec[k].name, "' has different shapes across the batch");
    }
    d.value.shape = shape0;
    if (hint) d.value.shape[0] = T;
    d.value.shape.insert(d.value.shape.begin(), B);
    const int64_t per_sample = d.value.numel() / B;
    d.value.data.assign(static_cast<size_t>(d.value.numel()), 0.0);
    for (int64_t i = 0; i < B; ++i) {
      const auto& v = samples[i].data[k].value.data;
      std::copy(v.begin(), v.end(), d.value.data.begin() + i * per_sample);
    }
    b.data.push_back(std::move(d));
  }
  return b;
}

Trajectory unbatch(const Batch& batch, int64_t b) {
  SCANLAB_CHECK(b >= 0 && b < batch.size(), "sample ", b, " is outside the batch of ", batch.size());
  Trajectory t;
  t.algorithm = batch.algorithm;
  t.nodes = batch.nodes;
  t.length = batch.lengths[b];
  SCANLAB_CHECK(t.length >= 1 && t.length <= batch.max_length(), "sample ", b, ": length ", t.length, " is invalid");
  for (const auto& d : batch.data) {
    Datapoint out{d.entry, {}};
    out.value.shape.assign(d.value.shape.begin() + 1, d.value.shape.end());
    const int64_t per_sample = d.value.numel() / batch.size();
    auto begin = d.value.data.begin() + b * per_sample;
    if (d.entry.stage == Stage::Hint) {
      const int64_t per_step = per_sample / out.value.shape[0];
      out.value.shape[0] = t.length;
      out.value.data.assign(begin, begin + t.length * per_step);
    } else {
      out.value.data.assign(begin, begin + per_sample);
    }
    t.data.push_back(std::move(out));
  }
  validate(t);
  return t;
}

BatchTensors to_tensors(const Batch& batch, c10::Device device) {
  BatchTensors out;
  out.spec = batch.spec();
  out.lengths = at::tensor(batch.lengths, at::kLong).to(device);
  for (const auto& d : batch.data) {
    auto t = at::tensor(d.value.data, at::kDouble).reshape(d.value.shape);
    t = t.to(holds_indices(d.entry.type) ? at::kLong : at::kFloat).to(device);
    auto& target = d.entry.stage == Stage::Input ? out.inputs : d.entry.stage == Stage::Hint ? out.hints : out.outputs;
    target[d.entry.name] = t;
  }
  return out;
}

}  // namespace scanlab::nar
