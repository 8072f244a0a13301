#include "dist/grad_sync.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <functional>
#include <map>
#include <string>

#include "core/check.h"

namespace scanlab::dist {
namespace {

// Runs after a parameter's AccumulateGrad. (torch's own LambdaPostHook pulls in compiled-autograd
// headers in 2.x; this is all that is needed.)
class AfterAccumulate : public torch::autograd::FunctionPostHook {
 public:
  explicit AfterAccumulate(std::function<void()> fn) : fn_(std::move(fn)) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list& /*inputs*/) override {
    fn_();
    return outputs;
  }

 private:
  std::function<void()> fn_;
};

}  // namespace

GradSync::GradSync(Group& group, std::vector<at::Tensor> params, int64_t bucket_bytes)
    : group_(group), params_(std::move(params)), slots_(params_.size()) {
  SCANLAB_CHECK(bucket_bytes > 0, "gradient buckets need a positive size; got ", bucket_bytes, " bytes");
  // Buckets in reverse registration order; a new bucket starts when the dtype or device changes or
  // the current one is full.
  std::map<std::pair<at::ScalarType, std::string>, size_t> open;  // (dtype, device) -> bucket being filled
  std::vector<int64_t> sizes;
  for (size_t k = params_.size(); k-- > 0;) {
    const auto& p = params_[k];
    const auto key = std::make_pair(p.scalar_type(), p.device().str());
    auto it = open.find(key);
    if (it == open.end() || sizes[it->second] * p.element_size() >= bucket_bytes) {
      buckets_.emplace_back();
      sizes.push_back(0);
      it = open.insert_or_assign(key, buckets_.size() - 1).first;
    }
    auto& b = buckets_[it->second];
    slots_[k] = {it->second, sizes[it->second], false};
    b.params.push_back(k);
    sizes[it->second] += p.numel();
  }
  for (size_t i = 0; i < buckets_.size(); ++i) {
    auto& b = buckets_[i];
    const auto& p0 = params_[b.params.front()];
    b.flat = at::zeros({sizes[i]}, p0.options().requires_grad(false));
    b.missing = b.params.size();
  }
  // Hooks after each parameter's AccumulateGrad; the accumulators are kept alive here, since a
  // parameter only holds its own weakly and would otherwise get a fresh one without the hook.
  for (size_t k = 0; k < params_.size(); ++k) {
    auto acc = torch::autograd::impl::grad_accumulator(params_[k]);
    SCANLAB_ASSERT(acc);
    const uintptr_t key = acc->add_post_hook(std::make_unique<AfterAccumulate>([this, k] { on_grad_ready(k); }));
    hooks_.emplace_back(std::static_pointer_cast<void>(acc), key);
  }
}

GradSync::~GradSync() {
  for (auto& [acc, key] : hooks_) static_cast<torch::autograd::Node*>(acc.get())->del_post_hook(key);
}

void GradSync::arm() {
  SCANLAB_ASSERT(!armed_);
  armed_ = true;
  started_in_backward_ = 0;
}

void GradSync::fill(size_t k) {
  auto& s = slots_[k];
  auto& b = buckets_[s.bucket];
  const auto& g = params_[k].grad();
  auto dst = b.flat.narrow(0, s.offset, params_[k].numel());
  if (g.defined())
    dst.copy_(g.reshape(-1));
  else
    dst.zero_();
  s.ready = true;
  --b.missing;
}

void GradSync::on_grad_ready(size_t k) {
  if (!armed_ || slots_[k].ready) return;
  fill(k);
  launch_ready();
}

void GradSync::launch_ready() {
  while (next_ < buckets_.size() && buckets_[next_].missing == 0) {
    auto& b = buckets_[next_];
    b.pending = group_.all_reduce_sum_async(b.flat, "gradient all-reduce (bucket " + std::to_string(next_ + 1) +
                                                        " of " + std::to_string(buckets_.size()) + ")");
    if (!in_finish_) ++started_in_backward_;
    ++next_;
  }
}

void GradSync::finish() {
  SCANLAB_ASSERT(armed_);
  in_finish_ = true;
  for (size_t k = 0; k < params_.size(); ++k)
    if (!slots_[k].ready) fill(k);  // no gradient reached it this time: it counts as zero
  launch_ready();
  const double n = static_cast<double>(group_.size());
  at::NoGradGuard no_grad;
  for (auto& b : buckets_) {
    group_.wait(b.pending);
    b.pending.reset();
    b.flat.div_(n);
    for (size_t k : b.params) {
      auto& g = params_[k].mutable_grad();
      if (g.defined()) g.copy_(b.flat.narrow(0, slots_[k].offset, params_[k].numel()).view_as(g));
      slots_[k].ready = false;
    }
    b.missing = b.params.size();
  }
  next_ = 0;
  armed_ = false;
  in_finish_ = false;
}

}  // namespace scanlab::dist
