#include "nar/gnn/features.h"

#include "core/check.h"

namespace scanlab::nar::gnn {

namespace {

// Number of axes after the batch axis that the location and type imply.
int64_t value_rank(const SpecEntry& e) {
  int64_t rank = e.location == Location::Node ? 1 : e.location == Location::Edge ? 2 : 0;
  if (e.type == Type::Categorical || e.type == Type::PermutationPointer || e.type == Type::SoftPointer) ++rank;
  return rank;
}

void check_feature(const Feature& f, bool hint, int64_t b, int64_t n, int64_t t) {
  const int64_t lead = hint ? 2 : 1;
  SCANLAB_CHECK(f.data.defined(), "datapoint '", f.entry.name, "' has no data");
  SCANLAB_CHECK(f.data.dim() == lead + value_rank(f.entry), "datapoint '", f.entry.name, "' (",
                to_string(f.entry.location), " ", to_string(f.entry.type), ") must have ", lead + value_rank(f.entry),
                " axes, got shape ", f.data.sizes());
  if (hint)
    SCANLAB_CHECK(f.data.size(0) == t, "hint '", f.entry.name, "' has ", f.data.size(0), " steps, expected ", t);
  SCANLAB_CHECK(f.data.size(lead - 1) == b, "datapoint '", f.entry.name, "' has batch ", f.data.size(lead - 1),
                ", expected ", b);
  const int64_t node_axes = f.entry.location == Location::Node ? 1 : f.entry.location == Location::Edge ? 2 : 0;
  for (int64_t a = 0; a < node_axes; ++a) {
    SCANLAB_CHECK(f.data.size(lead + a) == n, "datapoint '", f.entry.name, "' has ", f.data.size(lead + a),
                  " nodes on axis ", lead + a, ", expected ", n);
  }
}

}  // namespace

int64_t FeatureBatch::batch_size() const { return lengths.size(0); }

int64_t FeatureBatch::nodes() const {
  for (const auto& f : inputs) {
    if (f.entry.name == "pos") return f.data.size(1);
  }
  SCANLAB_FAIL("batch has no 'pos' input; every CLRS algorithm provides one");
}

int64_t FeatureBatch::max_length() const { return hints.empty() ? 1 : hints.front().data.size(0); }

FeatureBatch map_batch(const FeatureBatch& b, const std::function<at::Tensor(const at::Tensor&, int64_t)>& fn) {
  auto map = [&](const std::vector<Feature>& fs, int64_t axis) {
    std::vector<Feature> out;
    for (const auto& f : fs) out.push_back({f.entry, fn(f.data, axis)});
    return out;
  };
  return {map(b.inputs, 0), map(b.hints, 1), map(b.outputs, 0), fn(b.lengths, 0)};
}

FeatureBatch FeatureBatch::to(at::Device device) const {
  return map_batch(*this, [&](const at::Tensor& t, int64_t) { return t.to(device); });
}

void FeatureBatch::validate() const {
  SCANLAB_CHECK(lengths.defined() && lengths.dim() == 1, "batch lengths must be a [B] tensor");
  const int64_t b = batch_size(), n = nodes(), t = max_length();
  for (const auto& f : inputs) check_feature(f, false, b, n, t);
  for (const auto& f : outputs) check_feature(f, false, b, n, t);
  for (const auto& f : hints) check_feature(f, true, b, n, t);
  SCANLAB_CHECK(lengths.max().item<int64_t>() <= t, "a sample length exceeds the hint axis (", t, ")");
}

at::Tensor fuse_permutation_and_mask(const at::Tensor& permutation, const at::Tensor& mask) {
  const int64_t n = permutation.size(-1);
  const at::Tensor self = at::arange(n, permutation.options().dtype(at::kLong)).expand_as(mask);
  return at::where(mask > 0.5, self, permutation.argmax(-1));
}

int64_t categories_of(const Feature& f) {
  if (f.entry.type != Type::Categorical) return 0;
  return f.data.size(-1);
}

}  // namespace scanlab::nar::gnn
