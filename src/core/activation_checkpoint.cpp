// checkpointed(): one autograd Function whose forward keeps only the inputs and whose backward
// recomputes the call with grad on and backpropagates through it (torch::autograd::grad, re-entrant,
// as torch.utils.checkpoint's reentrant variant does).
#include "core/activation_checkpoint.h"

#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include <mutex>
#include <optional>

#include "core/torch_compat.h"

namespace scanlab {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// What the backward needs besides the saved inputs: the call, how many of the Function's tensors are
// inputs (the rest are params), and the state the forward ran under.
struct Recompute : torch::CustomClassHolder {
  CheckpointedFn fn;
  size_t n_inputs = 0;
  std::vector<at::Tensor> params;  // the same tensors fn reads (gradients are taken with respect to them)
  at::Generator generator;         // the inputs' device's default generator
  at::Tensor rng_state;            // its state before the forward ran
  bool bf16_autocast = false;
};

// Puts a generator in a saved state for a scope, then back in the state it had.
class RngReplay {
 public:
  RngReplay(at::Generator gen, const at::Tensor& state) : gen_(std::move(gen)) {
    std::lock_guard<std::mutex> lock(gen_.mutex());
    after_ = gen_.get_state();
    gen_.set_state(state);
  }
  ~RngReplay() {
    std::lock_guard<std::mutex> lock(gen_.mutex());
    gen_.set_state(after_);
  }
  RngReplay(const RngReplay&) = delete;
  RngReplay& operator=(const RngReplay&) = delete;

 private:
  at::Generator gen_;
  at::Tensor after_;
};

class CheckpointFunction : public torch::autograd::Function<CheckpointFunction> {
 public:
  // `all`: the inputs, then the params (each one of the node's inputs, so each gets a gradient).
  static at::Tensor forward(AutogradContext* ctx, at::TensorList all, c10::intrusive_ptr<Recompute> r) {
    const std::vector<at::Tensor> inputs(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(r->n_inputs));
    at::Tensor out;
    {
      at::NoGradGuard no_grad;
      out = r->fn(inputs);
    }
    ctx->save_for_backward(inputs);
    ctx->saved_data["recompute"] = c10::IValue::make_capsule(r);
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto r = c10::static_intrusive_pointer_cast<Recompute>(ctx->saved_data["recompute"].toCapsule());
    const variable_list saved = ctx->get_saved_variables();
    // Fresh leaves for the inputs (the saved ones belong to the outer graph); params are used as they are.
    std::vector<at::Tensor> inputs;
    for (const auto& t : saved) inputs.push_back(t.detach().requires_grad_(t.requires_grad()));
    at::Tensor out;
    {
      RngReplay replay(r->generator, r->rng_state);
      std::optional<CudaBf16Autocast> autocast_on;
      std::optional<CudaAutocastOff> autocast_off;
      if (r->bf16_autocast)
        autocast_on.emplace(true);
      else if (cuda_bf16_autocast_enabled())
        autocast_off.emplace();
      at::AutoGradMode grad_on(true);
      out = r->fn(inputs);
    }
    const std::vector<at::Tensor>& params = r->params;
    // Gradients for every input and param that requires one, through the recomputed graph.
    variable_list targets;
    std::vector<size_t> where;  // index into [inputs..., params...]
    for (size_t i = 0; i < inputs.size(); ++i)
      if (inputs[i].requires_grad()) {
        targets.push_back(inputs[i]);
        where.push_back(i);
      }
    for (size_t i = 0; i < params.size(); ++i)
      if (params[i].requires_grad()) {
        targets.push_back(params[i]);
        where.push_back(inputs.size() + i);
      }
    variable_list grads(inputs.size() + params.size() + 1);  // + 1: the Recompute argument
    if (!targets.empty() && out.requires_grad()) {
      const variable_list g = torch::autograd::grad({out}, targets, {grad_out[0]}, /*retain_graph=*/false,
                                                    /*create_graph=*/false, /*allow_unused=*/true);
      for (size_t j = 0; j < g.size(); ++j) grads[where[j]] = g[j];
    }
    return grads;
  }
};

}  // namespace

at::Tensor checkpointed(const CheckpointedFn& fn, const std::vector<at::Tensor>& inputs,
                        const std::vector<at::Tensor>& params) {
  bool needs_grad = false;
  for (const auto* list : {&inputs, &params})
    for (const auto& t : *list) needs_grad = needs_grad || (t.defined() && t.requires_grad());
  if (!at::GradMode::is_enabled() || !needs_grad || inputs.empty()) return fn(inputs);
  auto r = c10::make_intrusive<Recompute>();
  r->fn = fn;
  r->n_inputs = inputs.size();
  r->params = params;
  r->generator = at::globalContext().defaultGenerator(inputs.front().device());
  {
    std::lock_guard<std::mutex> lock(r->generator.mutex());
    r->rng_state = r->generator.get_state();
  }
  r->bf16_autocast = cuda_bf16_autocast_enabled();
  std::vector<at::Tensor> all = inputs;
  all.insert(all.end(), params.begin(), params.end());
  return CheckpointFunction::apply(at::TensorList(all), r);
}

}  // namespace scanlab
