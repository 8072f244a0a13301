// A tiny SequenceModel for trainer and evaluator tests while the real models live elsewhere:
// token embedding -> causal convolution over the last K positions -> GELU + residual -> dropout ->
// linear head. Its stream keeps the last K-1 embeddings, so streaming equals the parallel forward.
#pragma once
#include <ATen/ATen.h>
#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/dropout.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>

#include <deque>

#include "models/sequence_model.h"

namespace scanlab::testing {

class TinyConvModel : public models::SequenceModel {
 public:
  TinyConvModel(int64_t vocab, int64_t dim, int64_t kernel, double dropout)
      : vocab_(vocab), dim_(dim), kernel_(kernel), dropout_(dropout) {
    emb_ = register_module("emb", torch::nn::Embedding(vocab, dim));
    conv_ = register_parameter("conv", at::randn({kernel, dim, dim}) / std::sqrt(static_cast<double>(dim * kernel)));
    head_ = register_module("head", torch::nn::Linear(dim, vocab));
  }
  std::string kind() const override { return "tiny_conv"; }
  nlohmann::json config() const override {
    return {{"model", "tiny_conv"}, {"vocab_size", vocab_}, {"dim", dim_}, {"kernel", kernel_}, {"dropout", dropout_}};
  }
  int64_t vocab_size() const override { return vocab_; }

  // x [B, T, D] embeddings -> logits [B, T, V]; position t sees x[t-K+1..t].
  at::Tensor mix(const at::Tensor& x) {
    auto y = at::zeros_like(x);
    const int64_t T = x.size(1);
    for (int64_t k = 0; k < kernel_ && k < T; ++k)
      y.narrow(1, k, T - k).add_(at::matmul(x.narrow(1, 0, T - k), conv_[k]));
    auto h = torch::nn::functional::gelu(y) + x;
    h = torch::nn::functional::dropout(h,
                                       torch::nn::functional::DropoutFuncOptions().p(dropout_).training(is_training()));
    return head_->forward(h);
  }
  at::Tensor forward(const at::Tensor& tokens) override { return mix(emb_->forward(tokens)); }

  class TinyStream : public models::Stream {
   public:
    TinyStream(TinyConvModel& m, int64_t batch) : m_(m), batch_(batch) {}
    at::Tensor step(const at::Tensor& token) override {
      recent_.push_back(m_.emb_->forward(token));  // [B, D]
      if (static_cast<int64_t>(recent_.size()) > m_.kernel_) recent_.pop_front();
      auto window = at::stack(std::vector<at::Tensor>(recent_.begin(), recent_.end()), 1);  // [B, <=K, D]
      ++pos_;
      return m_.mix(window).select(1, window.size(1) - 1);
    }
    int64_t position() const override { return pos_; }
    int64_t state_bytes() const override { return 0; }
    std::vector<std::unique_ptr<models::Stream>> split() const override {
      std::vector<std::unique_ptr<models::Stream>> out;
      for (int64_t b = 0; b < batch_; ++b) {
        auto s = std::make_unique<TinyStream>(m_, 1);
        for (const auto& e : recent_) s->recent_.push_back(e.narrow(0, b, 1));
        s->pos_ = pos_;
        out.push_back(std::move(s));
      }
      return out;
    }
    std::map<std::string, at::Tensor> save() const override { return {}; }
    void restore(const std::map<std::string, at::Tensor>&) override {}

   private:
    TinyConvModel& m_;
    int64_t batch_;
    std::deque<at::Tensor> recent_;
    int64_t pos_ = 0;
  };
  std::unique_ptr<models::Stream> start_stream(int64_t batch) override {
    return std::make_unique<TinyStream>(*this, batch);
  }

 private:
  int64_t vocab_, dim_, kernel_;
  double dropout_;
  torch::nn::Embedding emb_{nullptr};
  at::Tensor conv_;
  torch::nn::Linear head_{nullptr};
};

}  // namespace scanlab::testing
