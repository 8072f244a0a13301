// Activation checkpointing for LibTorch C++ (what torch.utils.checkpoint does in Python): a call whose
// intermediates are not kept for the backward pass but recomputed there. The forward runs the call
// without recording a graph and keeps only its inputs; the backward runs it again with grad on, under
// the random-number state and the CUDA bf16 autocast state the forward saw (so dropout draws the same
// masks and the same ops run in the same dtypes), and backpropagates through that recomputed graph.
// Memory: the call's own activations live only inside its backward; time: one more forward of it.
#pragma once
#include <ATen/ATen.h>

#include <functional>
#include <vector>

namespace scanlab {

using CheckpointedFn = std::function<at::Tensor(const std::vector<at::Tensor>& inputs)>;

/// fn(inputs) with its intermediates recomputed in the backward pass. `params` are the tensors fn
/// reads besides `inputs` that need gradients (a module's parameters): their gradients, and those of
/// the inputs, are what the call's autograd node returns. fn must be a pure function of its inputs,
/// params and the random-number state (it runs twice). Without grad mode, or when neither inputs nor
/// params require grad, it is just fn(inputs).
///
/// Example:
///   at::Tensor y = checkpointed([&](const auto& in) { return stack.forward(in[0]); }, {x}, params);
at::Tensor checkpointed(const CheckpointedFn& fn, const std::vector<at::Tensor>& inputs,
                        const std::vector<at::Tensor>& params);

}  // namespace scanlab
