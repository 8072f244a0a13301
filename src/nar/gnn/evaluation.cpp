#include "nar/gnn/evaluation.h"

#include "core/check.h"
#include "nar/gnn/metrics.h"

namespace scanlab::nar::gnn {

namespace {
const Feature* find(const std::vector<Feature>& fs, const std::string& name) {
  for (const auto& f : fs)
    if (f.entry.name == name) return &f;
  return nullptr;
}
}  // namespace

OutputScores score_outputs(const std::map<std::string, at::Tensor>& hard, const std::vector<Feature>& truth) {
  OutputScores s;
  for (const auto& f : truth) {
    const SpecEntry& e = f.entry;
    auto it = hard.find(e.name);
    SCANLAB_CHECK(it != hard.end(), "no prediction for output '", e.name, "'");
    const at::Tensor pred = it->second.to(at::kCPU);
    const at::Tensor t = f.data.to(at::kCPU);
    if (e.type == Type::MaskOne && e.name.size() > 5 && e.name.compare(e.name.size() - 5, 5, "_mask") == 0) {
      const Feature* perm = find(truth, e.name.substr(0, e.name.size() - 5));
      if (perm && perm->entry.type == Type::PermutationPointer) continue;  // scored with its permutation
    }
    double value = 0.0;
    switch (e.type) {
      case Type::Scalar:
        value = scalar_mse(pred, t);
        break;
      case Type::Mask:
        value = mask_f1(pred, t);
        break;
      case Type::MaskOne:
      case Type::Categorical:
        value = one_hot_accuracy(pred, t);
        break;
      case Type::Pointer:
        value = pointer_accuracy(pred, t);
        break;
      case Type::PermutationPointer: {
        const Feature* mask = find(truth, e.name + "_mask");
        auto mask_pred = hard.find(e.name + "_mask");
        SCANLAB_CHECK(mask && mask_pred != hard.end(), "permutation output '", e.name, "' needs its '", e.name,
                      "_mask' output");
        value = pointer_accuracy(fuse_permutation_and_mask(pred, mask_pred->second.to(at::kCPU)),
                                 fuse_permutation_and_mask(t, mask->data.to(at::kCPU)));
        break;
      }
      default:
        SCANLAB_FAIL("cannot score output '", e.name, "' of type ", to_string(e.type));
    }
    s.per_output[e.name] = value;
  }
  SCANLAB_CHECK(!s.per_output.empty(), "no outputs to score");
  for (const auto& f : truth) {
    auto it = s.per_output.find(f.entry.name);
    if (it == s.per_output.end()) continue;
    // Scalars are scored by MSE (lower is better); they enter the score negated so that a higher
    // score is always better, which checkpoint selection relies on.
    s.score += f.entry.type == Type::Scalar ? -it->second : it->second;
  }
  s.score /= static_cast<double>(s.per_output.size());
  return s;
}

}  // namespace scanlab::nar::gnn
