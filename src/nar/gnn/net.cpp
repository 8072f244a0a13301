#include "nar/gnn/net.h"

#include <ATen/ATen.h>

#include "core/check.h"
#include "nar/gnn/losses.h"

namespace scanlab::nar::gnn {

namespace {

std::vector<std::pair<SpecEntry, int64_t>> with_categories(const std::vector<Feature>& fs) {
  std::vector<std::pair<SpecEntry, int64_t>> out;
  for (const auto& f : fs) out.emplace_back(f.entry, categories_of(f));
  return out;
}

const Feature& find_feature(const std::vector<Feature>& fs, const std::string& name) {
  for (const auto& f : fs)
    if (f.entry.name == name) return f;
  SCANLAB_FAIL("batch has no datapoint '", name, "' that the network was built for");
}

// Per-sample choice between two tensors with a leading batch axis.
at::Tensor select_per_sample(const at::Tensor& take_first, const at::Tensor& a, const at::Tensor& b) {
  at::Tensor m = take_first;
  while (m.dim() < a.dim()) m = m.unsqueeze(-1);
  return at::where(m, a, b);
}

}  // namespace

Net::Net(const FeatureBatch& example, const NetOptions& opts) : opts_(opts) {
  example.validate();
  std::vector<Feature> encoded = example.inputs;
  for (const auto& f : example.inputs) inputs_.push_back(f.entry);
  for (const auto& f : example.outputs) outputs_.push_back(f.entry);
  std::vector<Feature> decoded = example.outputs;
  if (opts_.use_hints) {
    for (const auto& f : example.hints) {
      hints_.push_back(f.entry);
      encoded.push_back(f);
      decoded.push_back(f);
    }
  }
  const int64_t h = opts_.processor.hidden;
  encoders_ =
      register_module("encoders", std::make_shared<Encoders>(with_categories(encoded), h, opts_.xavier_on_scalars));
  processor_ = register_module("processor", make_processor(opts_.processor));
  decoders_ = register_module(
      "decoders", std::make_shared<Decoders>(with_categories(decoded), h, processor_->has_edge_latents() ? 2 * h : h));
}

NetPrediction Net::forward(const FeatureBatch& batch) {
  const int64_t b = batch.batch_size(), n = batch.nodes();
  // Unroll to the longest sample of this batch, not the split's padded hint axis: steps past every
  // sample's length predict only masked hints and leave every output frozen, so they change nothing.
  const at::Tensor lengths_cpu = batch.lengths.to(at::kCPU).to(at::kLong);
  const int64_t longest = std::min(batch.max_length(), b > 0 ? lengths_cpu.max().item<int64_t>() : int64_t{1});
  const int64_t steps = std::max<int64_t>(1, longest - 1);
  const auto opts = at::TensorOptions().dtype(at::kFloat).device(batch.lengths.device());
  const bool training = is_training();
  SinkhornOptions sinkhorn;
  sinkhorn.steps = opts_.sinkhorn_steps;
  sinkhorn.temperature = opts_.sinkhorn_temperature;
  sinkhorn.gumbel_noise = training;

  std::vector<Feature> hints;
  for (const auto& e : hints_) hints.push_back(find_feature(batch.hints, e.name));

  // A sample's outputs are decoded from the decoder inputs of its last step, max(0, length - 2).
  // Only those inputs are kept (one select per step where some sample ends) and the output
  // decoders run once after the unroll: the same outputs as decoding at every step and freezing.
  const at::Tensor last_cpu = at::clamp(lengths_cpu - 2, 0, steps - 1);
  const at::Tensor last_step = last_cpu.to(batch.lengths.device());
  std::vector<bool> some_sample_ends(steps, false);
  {
    const auto* p = last_cpu.data_ptr<int64_t>();
    for (int64_t k = 0; k < last_cpu.numel(); ++k) some_sample_ends[p[k]] = true;
  }

  NetPrediction result;
  result.steps = steps;
  // Inputs do not change over the unroll: encode them once.
  EncodedFeatures encoded_inputs = encoders_->zeros(b, n, opts);
  {
    std::vector<Feature> inputs;
    for (const auto& e : inputs_) inputs.push_back(find_feature(batch.inputs, e.name));
    encoders_->accumulate_all(inputs, encoded_inputs);
  }
  at::Tensor hidden = at::zeros({b, n, opts_.processor.hidden}, opts);
  std::vector<Feature> current(hints.size());
  for (size_t k = 0; k < hints.size(); ++k) current[k] = {hints[k].entry, hints[k].data[0]};
  DecoderInputs last_dec;

  for (int64_t i = 0; i < steps; ++i) {
    if (i > 0 && !hints.empty() && !training && opts_.eval_true_hints) {
      for (size_t k = 0; k < hints.size(); ++k) current[k] = {hints[k].entry, hints[k].data[i]};
    } else if (i > 0 && !hints.empty()) {
      const auto& prev = result.hints.back();
      at::Tensor force;
      if (training && opts_.teacher_forcing > 0) {
        force = at::rand({b}, opts) < opts_.teacher_forcing;
      }
      for (size_t k = 0; k < hints.size(); ++k) {
        const SpecEntry& e = hints[k].entry;
        at::Tensor fed = postprocess(e, prev.at(e.name), opts_.hint_feedback, opts_.feedback_sinkhorn_steps);
        if (force.defined()) {
          at::Tensor truth = hints[k].data[i];
          // Soft pointers are distributions; the true pointer has to become one too to be mixed in.
          if (e.type == Type::Pointer && fed.dim() > truth.dim()) truth = dense_pointer({e, truth}, n);
          fed = select_per_sample(force, truth.to(fed.scalar_type()), fed);
        }
        current[k] = {e, fed};
      }
    }
    EncodedFeatures acc = encoded_inputs;
    encoders_->accumulate_all(current, acc);
    const ProcessorOutput next = processor_->step(acc.nodes, acc.edges, acc.graph, acc.adj, hidden);
    DecoderInputs dec{at::cat({acc.nodes, hidden, next.nodes}, -1),
                      next.edges.defined() ? at::cat({acc.edges, next.edges}, -1) : acc.edges, acc.graph};
    hidden = next.nodes;

    result.hints.push_back(decoders_->decode_all(hints_, dec, sinkhorn));
    if (!some_sample_ends[i]) continue;
    if (!last_dec.h.defined()) {
      last_dec = dec;  // samples ending later are overwritten at their own last step
    } else {
      const at::Tensor ends_here = last_step == i;
      last_dec = {select_per_sample(ends_here, dec.h, last_dec.h),
                  select_per_sample(ends_here, dec.edges, last_dec.edges),
                  select_per_sample(ends_here, dec.graph, last_dec.graph)};
    }
  }
  result.outputs = decoders_->decode_all(outputs_, last_dec, sinkhorn);
  // With T = 1 there is no later hint to predict (CLRS).
  if (longest <= 1) result.hints.clear();
  return result;
}

namespace {

ElementLoss element_loss(const SpecEntry& e, const at::Tensor& pred, const at::Tensor& truth) {
  switch (e.type) {
    case Type::Scalar:
      return scalar_loss(pred, truth.to(pred.scalar_type()));
    case Type::Mask:
      return mask_loss(pred, truth.to(pred.scalar_type()));
    case Type::MaskOne:
    case Type::Categorical:
      return one_hot_loss(pred, truth.to(pred.scalar_type()));
    case Type::Pointer:
      return pointer_loss(pred, truth);
    case Type::PermutationPointer:
      return permutation_loss(pred, truth.to(pred.scalar_type()));
    default:
      break;
  }
  SCANLAB_FAIL("no loss for datapoint '", e.name, "' of type ", to_string(e.type));
}

}  // namespace

at::Tensor net_loss(const NetPrediction& pred, const FeatureBatch& batch, const Net& net) {
  at::Tensor total = at::zeros({}, batch.lengths.options().dtype(at::kFloat));
  for (const auto& e : net.output_entries()) {
    total = total + reduce_loss(element_loss(e, pred.outputs.at(e.name), find_feature(batch.outputs, e.name).data));
  }
  if (pred.hints.empty()) return total;
  const int64_t steps = static_cast<int64_t>(pred.hints.size());
  // running[t, b] = lengths[b] > t + 1: the prediction of step t (for time t+1) counts.
  const at::Tensor running =
      (batch.lengths.unsqueeze(0) > (at::arange(steps, batch.lengths.options()).unsqueeze(1) + 1)).to(at::kFloat);
  for (const auto& [name, _] : pred.hints.front()) {
    const Feature& truth = find_feature(batch.hints, name);
    std::vector<at::Tensor> per_step;
    for (const auto& step : pred.hints) per_step.push_back(step.at(name));
    const at::Tensor stacked = at::stack(per_step, 0);
    const ElementLoss l = element_loss(truth.entry, stacked, truth.data.slice(0, 1, steps + 1));
    total = total + reduce_loss(l, expand_leading(running, l.term.dim()));
  }
  return total;
}

std::map<std::string, at::Tensor> hard_outputs(const NetPrediction& pred, const Net& net) {
  std::map<std::string, at::Tensor> hard;
  for (const auto& e : net.output_entries()) {
    hard[e.name] = postprocess(e, pred.outputs.at(e.name).detach(), Postprocess::Hard,
                               net.options().hard_sinkhorn_steps, net.options().sinkhorn_temperature);
  }
  return hard;
}

}  // namespace scanlab::nar::gnn
