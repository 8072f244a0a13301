// Tiny hand-made tasks for GNN tests: 4 nodes with keys in [0,1], one output of any kind and a
// 3-step mask hint, samples alternating lengths 3 and 2. No algorithm library needed.
#pragma once
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include "nar/gnn/features.h"

namespace scanlab::nar::gnn {

constexpr int64_t kTinyNodes = 4;

inline SpecEntry tiny_input(const std::string& n, Location l, Type t) { return {n, Stage::Input, l, t}; }

// A tiny task family on keys in [0,1]: one output of the requested kind (plus its mask for a
// permutation) and a mask hint over 3 steps.
inline FeatureBatch tiny_task(const SpecEntry& out_entry, int64_t samples, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  const at::Tensor key = at::rand({samples, kTinyNodes}, gen, at::TensorOptions().dtype(at::kFloat));
  FeatureBatch b;
  b.inputs = {{tiny_input("pos", Location::Node, Type::Scalar),
               at::arange(kTinyNodes).to(at::kFloat).div(kTinyNodes).expand({samples, kTinyNodes}).contiguous()},
              {tiny_input("key", Location::Node, Type::Scalar), key}};
  const at::Tensor order = std::get<1>(key.sort(-1));
  at::Tensor target;
  switch (out_entry.type) {
    case Type::Scalar:
      target = out_entry.location == Location::Graph ? key.sum(-1) : key * 2;
      break;
    case Type::Mask:
      target = out_entry.location == Location::Edge ? (key.unsqueeze(2) > key.unsqueeze(1)).to(at::kFloat)
                                                    : (key > 0.5).to(at::kFloat);
      break;
    case Type::MaskOne:
      target = at::one_hot(key.argmax(-1), kTinyNodes).to(at::kFloat);
      break;
    case Type::Categorical:
      target = at::one_hot(at::clamp((key * 3).to(at::kLong), 0, 2), 3).to(at::kFloat);
      break;
    case Type::Pointer:
      target = out_entry.location == Location::Graph ? key.argmin(-1)
                                                     : key.argmax(-1, true).expand({samples, kTinyNodes}).contiguous();
      break;
    case Type::PermutationPointer: {
      // Sorted order as CLRS encodes it: each node points to its predecessor, the smallest to the
      // largest, and "<name>_mask" marks the smallest.
      target = at::zeros({samples, kTinyNodes, kTinyNodes});
      for (int64_t s = 0; s < samples; ++s)
        for (int64_t r = 0; r < kTinyNodes; ++r)
          target[s][order[s][r]][order[s][(r + kTinyNodes - 1) % kTinyNodes]] = 1;
      b.outputs.push_back({{out_entry.name + "_mask", Stage::Output, Location::Node, Type::MaskOne},
                           at::one_hot(order.select(1, 0), kTinyNodes).to(at::kFloat)});
      break;
    }
    default:
      ADD_FAILURE() << "no tiny task for this type";
  }
  b.outputs.insert(b.outputs.begin(), {out_entry, target});
  // Hint "seen": nodes with key below 1/3, 2/3, 1 at times 0, 1, 2; samples alternate lengths 3 and 2.
  std::vector<at::Tensor> steps;
  for (int t = 0; t < 3; ++t) steps.push_back((key < (t + 1) / 3.0).to(at::kFloat));
  b.hints = {{{"seen", Stage::Hint, Location::Node, Type::Mask}, at::stack(steps, 0)}};
  b.lengths = 3 - at::arange(samples) % 2;
  return b;
}

}  // namespace scanlab::nar::gnn
