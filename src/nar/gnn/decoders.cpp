#include "nar/gnn/decoders.h"

#include "core/check.h"
#include "nar/gnn/linear.h"

namespace scanlab::nar::gnn {

namespace {
bool is_pointer(Type t) { return t == Type::Pointer || t == Type::PermutationPointer; }
}  // namespace

Decoders::Decoders(const std::vector<std::pair<SpecEntry, int64_t>>& entries, int64_t hidden, int64_t edge_width) {
  const int64_t h3 = 3 * hidden;
  for (const auto& [e, categories] : entries) {
    SCANLAB_CHECK(e.type != Type::ShouldBePermutation && e.type != Type::SoftPointer, "datapoint '", e.name,
                  "' of type ", to_string(e.type), " cannot be decoded; convert it with enforce_permutations");
    SCANLAB_CHECK(!(e.type == Type::PermutationPointer && e.location != Location::Node), "permutation pointer '",
                  e.name, "' must be a node datapoint");
    const int64_t out = e.type == Type::Categorical ? categories : 1;
    SCANLAB_CHECK(out > 0, "categorical datapoint '", e.name, "' has no categories");
    // (input width, output width) of each linear, in the order decode() uses them.
    std::vector<std::pair<int64_t, int64_t>> shapes;
    if (e.location == Location::Node) {
      if (is_pointer(e.type))
        shapes = {{h3, hidden}, {h3, hidden}, {edge_width, hidden}, {hidden, 1}};
      else
        shapes = {{h3, out}};
    } else if (e.location == Location::Edge) {
      if (e.type == Type::Pointer)
        shapes = {{h3, hidden}, {h3, hidden}, {edge_width, hidden}, {h3, hidden}, {hidden, 1}};
      else
        shapes = {{h3, out}, {h3, out}, {edge_width, out}};
    } else {
      if (e.type == Type::Pointer)
        shapes = {{h3, 1}, {hidden, 1}, {h3, 1}};
      else
        shapes = {{h3, out}, {hidden, out}};
    }
    std::vector<torch::nn::Linear> lins;
    for (size_t k = 0; k < shapes.size(); ++k) {
      lins.push_back(
          register_module("dec_" + e.name + "_" + std::to_string(k), make_linear(shapes[k].first, shapes[k].second)));
    }
    layers_[e.name] = lins;
  }
}

namespace {

// What layer k of a datapoint's decoder reads: one of the decoder inputs, or an intermediate value of
// its own (the pointer scorers' last layer), which cannot be shared with other datapoints.
enum Source { kH = 0, kEdges = 1, kGraph = 2, kNodeMax = 3, kIntermediate = 4 };

std::vector<Source> layer_sources(const SpecEntry& e) {
  if (e.location == Location::Node) {
    if (is_pointer(e.type)) return {kH, kH, kEdges, kIntermediate};
    return {kH};
  }
  if (e.location == Location::Edge) {
    if (e.type == Type::Pointer) return {kH, kH, kEdges, kH, kIntermediate};
    return {kH, kH, kEdges};
  }
  if (e.type == Type::Pointer) return {kNodeMax, kGraph, kH};
  return {kNodeMax, kGraph};
}

}  // namespace

at::Tensor Decoders::decode(const SpecEntry& e, const DecoderInputs& in, const SinkhornOptions& sinkhorn) {
  auto it = layers_.find(e.name);
  SCANLAB_CHECK(it != layers_.end(), "no decoder for datapoint '", e.name, "'");
  auto& d = it->second;
  return combine(e, in, sinkhorn, [&](size_t k, const at::Tensor& x) { return d[k](x); });
}

std::map<std::string, at::Tensor> Decoders::decode_all(const std::vector<SpecEntry>& es, const DecoderInputs& in,
                                                       const SinkhornOptions& sinkhorn) {
  // Gather every shareable layer by the input it reads, run one product per input, hand out slices.
  std::vector<at::Tensor> weights[4], biases[4];
  std::vector<int64_t> widths[4];
  std::map<std::pair<std::string, size_t>, std::pair<Source, size_t>> slot;
  for (const auto& e : es) {
    auto it = layers_.find(e.name);
    SCANLAB_CHECK(it != layers_.end(), "no decoder for datapoint '", e.name, "'");
    const std::vector<Source> sources = layer_sources(e);
    for (size_t k = 0; k < sources.size(); ++k) {
      const Source s = sources[k];
      if (s == kIntermediate) continue;
      slot[{e.name, k}] = {s, weights[s].size()};
      weights[s].push_back(it->second[k]->weight);
      biases[s].push_back(it->second[k]->bias);
      widths[s].push_back(it->second[k]->weight.size(0));
    }
  }
  std::vector<at::Tensor> outputs[4];
  for (Source s : {kH, kEdges, kGraph, kNodeMax}) {
    if (weights[s].empty()) continue;
    const at::Tensor x = s == kH ? in.h : s == kEdges ? in.edges : s == kGraph ? in.graph : std::get<0>(in.h.max(1));
    const at::Tensor w = weights[s].size() == 1 ? weights[s][0] : at::cat(weights[s], 0);
    const at::Tensor b = biases[s].size() == 1 ? biases[s][0] : at::cat(biases[s], 0);
    const at::Tensor y = at::linear(x, w, b);
    outputs[s] = weights[s].size() == 1 ? std::vector<at::Tensor>{y} : y.split_with_sizes(widths[s], -1);
  }
  std::map<std::string, at::Tensor> decoded;
  for (const auto& e : es) {
    auto& d = layers_.at(e.name);
    decoded[e.name] = combine(e, in, sinkhorn, [&](size_t k, const at::Tensor& x) {
      auto found = slot.find({e.name, k});
      if (found == slot.end()) return d[k](x);
      return outputs[found->second.first][found->second.second];
    });
  }
  return decoded;
}

at::Tensor Decoders::combine(const SpecEntry& e, const DecoderInputs& in, const SinkhornOptions& sinkhorn,
                             const LayerFn& d) {
  const bool squeeze = e.type != Type::Categorical;
  if (e.location == Location::Node) {
    if (!is_pointer(e.type)) {
      const at::Tensor p = d(0, in.h);
      return squeeze ? p.squeeze(-1) : p;
    }
    // score(i -> j) = d4(max(d1(h_i), d2(h_j) + d3(e_ji)))
    const at::Tensor from = d(0, in.h).unsqueeze(2);                                   // [B,i,1,H]
    const at::Tensor to = (d(1, in.h).unsqueeze(2) + d(2, in.edges)).transpose(1, 2);  // [B,i,j,H]
    at::Tensor scores = d(3, at::maximum(from, to)).squeeze(-1);
    if (e.type == Type::PermutationPointer) scores = log_sinkhorn(scores, sinkhorn);
    return scores;
  }
  if (e.location == Location::Edge) {
    // pred[b,i,j] = d1(h_i) + d2(h_j) + d3(e_ij)
    const at::Tensor pair = d(0, in.h).unsqueeze(2) + d(1, in.h).unsqueeze(1) + d(2, in.edges);
    if (e.type != Type::Pointer) return squeeze ? pair.squeeze(-1) : pair;
    // score(ij -> k) = d5(max(pair_ij, d4(h_k)))
    const at::Tensor target = d(3, in.h).unsqueeze(1).unsqueeze(1);   // [B,1,1,k,H]
    return d(4, at::maximum(pair.unsqueeze(3), target)).squeeze(-1);  // [B,i,j,k]
  }
  const at::Tensor graph = d(0, std::get<0>(in.h.max(1))) + d(1, in.graph);  // [B,out]
  if (e.type == Type::Pointer) return graph + d(2, in.h).squeeze(-1);        // [B,N]
  return squeeze ? graph.squeeze(-1) : graph;
}

at::Tensor postprocess(const SpecEntry& e, const at::Tensor& raw, Postprocess mode, int64_t sinkhorn_steps,
                       double sinkhorn_temperature) {
  const bool hard = mode == Postprocess::Hard;
  switch (e.type) {
    case Type::Scalar:
      return hard ? raw.detach() : raw;
    case Type::Mask:
      return hard ? (raw > 0).to(raw.scalar_type()) : at::sigmoid(raw);
    case Type::MaskOne:
    case Type::Categorical:
      return hard ? at::one_hot(raw.argmax(-1), raw.size(-1)).to(raw.scalar_type()) : at::softmax(raw, -1);
    case Type::Pointer:
      return hard ? raw.argmax(-1) : at::softmax(raw, -1);
    case Type::PermutationPointer: {
      SinkhornOptions o;
      o.steps = sinkhorn_steps;
      o.temperature = sinkhorn_temperature;
      const at::Tensor p = log_sinkhorn(raw, o).exp();
      return hard ? at::one_hot(p.argmax(-1), p.size(-1)).to(raw.scalar_type()) : p;
    }
    default:
      break;
  }
  SCANLAB_FAIL("cannot postprocess datapoint '", e.name, "' of type ", to_string(e.type));
}

}  // namespace scanlab::nar::gnn
