// Decoders (CLRS), one per decoded datapoint, reading h_t = [node_fts, h_prev, h_new]
// ([B,N,3H]), the edge features (+ triplet latents) and the graph features. Raw predictions:
//   node scalar/mask/mask_one [B,N], categorical [B,N,C], pointer [B,N,N] logits (row i scores
//   where node i points, max-out scoring), permutation pointer [B,N,N] log-Sinkhorn;
//   edge [B,N,N] (+C), edge pointer [B,N,N,N]; graph [B] (+C), graph pointer [B,N].
// `postprocess` turns raw predictions into values an encoder accepts again (soft or hard).
#pragma once
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "nar/gnn/features.h"
#include "nar/gnn/sinkhorn.h"

namespace scanlab::nar::gnn {

struct DecoderInputs {
  at::Tensor h;      // [B,N,3H]
  at::Tensor edges;  // [B,N,N,He]
  at::Tensor graph;  // [B,H]
};

class Decoders : public torch::nn::Module {
 public:
  Decoders(const std::vector<std::pair<SpecEntry, int64_t>>& entries, int64_t hidden, int64_t edge_width);
  // `sinkhorn` is used by permutation pointers (Gumbel noise only when it says so). The reference path.
  at::Tensor decode(const SpecEntry& e, const DecoderInputs& in, const SinkhornOptions& sinkhorn);
  // Decodes several datapoints; every linear layer that reads the same input (h, the edge features,
  // the graph features, max over nodes of h) runs as one matrix product with the layers' weights
  // stacked, then each datapoint combines its slices as `decode` does. Same results as `decode` on
  // each; the unroll uses it because its steps are launch-bound on a GPU.
  std::map<std::string, at::Tensor> decode_all(const std::vector<SpecEntry>& es, const DecoderInputs& in,
                                               const SinkhornOptions& sinkhorn);
  bool decodes(const std::string& name) const { return layers_.count(name) > 0; }

 private:
  // Layer k of a datapoint applied to x; `decode` and `decode_all` differ only in how.
  using LayerFn = std::function<at::Tensor(size_t k, const at::Tensor& x)>;
  at::Tensor combine(const SpecEntry& e, const DecoderInputs& in, const SinkhornOptions& sinkhorn,
                     const LayerFn& layer);
  std::map<std::string, std::vector<torch::nn::Linear>> layers_;
};

enum class Postprocess { Soft, Hard };

// Soft: sigmoid (mask), softmax (mask_one, categorical, pointer -> distribution rows),
// exp(log_sinkhorn) (permutation), scalars unchanged. Hard: threshold at 0, argmax one-hot,
// argmax indices (pointer), one-hot rows of the Sinkhorn matrix (permutation), scalars detached.
// `sinkhorn_steps` is the number of extra Sinkhorn rounds for permutation pointers, at `sinkhorn_temperature`.
at::Tensor postprocess(const SpecEntry& e, const at::Tensor& raw, Postprocess mode, int64_t sinkhorn_steps,
                       double sinkhorn_temperature = 0.1);

}  // namespace scanlab::nar::gnn
