#include "train/adamw.h"

#include <ATen/core/grad_mode.h>

#include <cmath>

#include "core/check.h"

namespace scanlab::train {

AdamW::AdamW(std::vector<std::pair<std::string, at::Tensor>> named_params, AdamWOptions opts)
    : params_(std::move(named_params)), opts_(opts) {
  for (const auto& [name, p] : params_) {
    m_.push_back(at::zeros_like(p, p.options().dtype(at::kFloat)));
    v_.push_back(at::zeros_like(p, p.options().dtype(at::kFloat)));
  }
}

void AdamW::zero_grad() {
  for (auto& [name, p] : params_)
    if (p.grad().defined()) p.mutable_grad() = at::Tensor();
}

void AdamW::step(double lr) {
  at::NoGradGuard no_grad;
  ++t_;
  const double bc1 = 1 - std::pow(opts_.beta1, static_cast<double>(t_));
  const double bc2 = 1 - std::pow(opts_.beta2, static_cast<double>(t_));
  for (size_t i = 0; i < params_.size(); ++i) {
    auto& p = params_[i].second;
    if (!p.grad().defined()) continue;
    auto g = p.grad().to(at::kFloat);
    m_[i].mul_(opts_.beta1).add_(g, 1 - opts_.beta1);
    v_[i].mul_(opts_.beta2).addcmul_(g, g, 1 - opts_.beta2);
    if (opts_.weight_decay > 0 && p.dim() >= 2) p.mul_(1 - lr * opts_.weight_decay);
    auto denom = (v_[i] / bc2).sqrt_().add_(opts_.eps);
    p.add_((m_[i] / denom).to(p.scalar_type()), -lr / bc1);
  }
}

std::map<std::string, at::Tensor> AdamW::state() const {
  std::map<std::string, at::Tensor> s;
  for (size_t i = 0; i < params_.size(); ++i) {
    s["m/" + params_[i].first] = m_[i];
    s["v/" + params_[i].first] = v_[i];
  }
  s["t"] = at::full({1}, t_, at::kLong);
  return s;
}

void AdamW::load_state(const std::map<std::string, at::Tensor>& s) {
  auto t = s.find("t");
  SCANLAB_CHECK(t != s.end() && t->second.numel() == 1, "optimizer state: missing the step count 't'");
  for (size_t i = 0; i < params_.size(); ++i)
    for (auto* slot : {&m_[i], &v_[i]}) {
      const std::string key = (slot == &m_[i] ? "m/" : "v/") + params_[i].first;
      auto it = s.find(key);
      SCANLAB_CHECK(it != s.end(), "optimizer state: missing '", key, "'; was the checkpoint written for this model?");
      SCANLAB_CHECK(it->second.sizes() == slot->sizes(), "optimizer state: '", key, "' has shape ", it->second.sizes(),
                    ", the parameter has ", slot->sizes());
      slot->copy_(it->second);
    }
  t_ = t->second.to(at::kCPU).item<int64_t>();
}

double scheduled_lr(int64_t step, int64_t total, int64_t warmup, double lr, double min_ratio) {
  if (warmup > 0 && step < warmup) return lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
  const int64_t span = std::max<int64_t>(1, total - warmup);
  const double progress = std::min(1.0, static_cast<double>(step - warmup) / static_cast<double>(span));
  const double cosine = 0.5 * (1 + std::cos(M_PI * progress));
  return lr * (min_ratio + (1 - min_ratio) * cosine);
}

}  // namespace scanlab::train
