// GPT-2 block parity against an independent float64 hand computation (a d = 4, 2-head block written
// out in plain ATen ops), the masks, the cached path, and HF's parameter names and layouts.
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <cmath>

#include "models/layers/gpt2_block.h"
#include "support/expect_close.h"

namespace scanlab::models {
namespace {

at::Tensor layer_norm_by_hand(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  const at::Tensor mu = x.mean(-1, true), var = (x - mu).pow(2).mean(-1, true);  // biased, as LayerNorm
  return (x - mu) / (var + 1e-5).sqrt() * w + b;
}

at::Tensor gelu_new_by_hand(const at::Tensor& x) {
  return 0.5 * x * (1.0 + (std::sqrt(2.0 / M_PI) * (x + 0.044715 * x.pow(3))).tanh());
}

// One sequence x [T, 4], 2 heads of size 2; allowed[i][j] says whether query i sees key j.
at::Tensor block_by_hand(Gpt2BlockImpl& blk, const at::Tensor& x, const std::vector<std::vector<bool>>& allowed) {
  const int64_t t = x.size(0), d = 4, hd = 2;
  const at::Tensor a = layer_norm_by_hand(x, blk.ln_1->weight, blk.ln_1->bias);
  const at::Tensor qkv = a.mm(blk.attn->c_attn->weight) + blk.attn->c_attn->bias;  // Conv1D: x W + b, W [in, out]
  at::Tensor heads_out = at::zeros({t, d}, at::kDouble);
  for (int64_t h = 0; h < 2; ++h) {
    const at::Tensor q = qkv.slice(1, h * hd, (h + 1) * hd), k = qkv.slice(1, d + h * hd, d + (h + 1) * hd),
                     v = qkv.slice(1, 2 * d + h * hd, 2 * d + (h + 1) * hd);
    for (int64_t i = 0; i < t; ++i) {
      std::vector<double> s(t);
      double mx = -1e300, z = 0;
      for (int64_t j = 0; j < t; ++j)
        if (allowed[i][j]) {
          s[j] = q[i].dot(k[j]).item<double>() / std::sqrt(2.0);
          mx = std::max(mx, s[j]);
        }
      for (int64_t j = 0; j < t; ++j) z += allowed[i][j] ? std::exp(s[j] - mx) : 0.0;
      for (int64_t j = 0; j < t; ++j)
        if (allowed[i][j]) heads_out[i].slice(0, h * hd, (h + 1) * hd) += std::exp(s[j] - mx) / z * v[j];
    }
  }
  const at::Tensor h1 = x + heads_out.mm(blk.attn->c_proj->weight) + blk.attn->c_proj->bias;
  const at::Tensor m = layer_norm_by_hand(h1, blk.ln_2->weight, blk.ln_2->bias);
  const at::Tensor f = gelu_new_by_hand(m.mm(blk.mlp->c_fc->weight) + blk.mlp->c_fc->bias);
  return h1 + f.mm(blk.mlp->c_proj->weight) + blk.mlp->c_proj->bias;
}

Gpt2Block random_block() {
  at::manual_seed(3);
  Gpt2Block blk(Gpt2BlockOptions{4, 2, 0.1, 0.1});
  blk->to(at::kDouble);
  blk->eval();
  torch::NoGradGuard no_grad;
  for (auto& p : blk->parameters()) p.normal_(0.0, 0.5);  // LN weights and biases too, so all of them matter
  return blk;
}

TEST(Gpt2Block, MatchesHandComputationCausalAndBidirectional) {
  Gpt2Block blk = random_block();
  torch::NoGradGuard no_grad;
  const at::Tensor x = at::randn({5, 4}, at::kDouble);
  std::vector<std::vector<bool>> causal(5, std::vector<bool>(5)), all(5, std::vector<bool>(5, true));
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j <= i; ++j) causal[i][j] = true;
  testing::expect_close("causal block", block_by_hand(*blk, x, causal),
                        blk->forward(x.unsqueeze(0), causal_mask(5, 5, at::kCPU))[0], 1e-12);
  testing::expect_close("bidirectional block", block_by_hand(*blk, x, all),
                        blk->forward(x.unsqueeze(0), at::Tensor())[0], 1e-12);
}

TEST(Gpt2Block, LayoutAndInitFollowHuggingFace) {
  at::manual_seed(0);
  Gpt2Block blk(Gpt2BlockOptions{64, 4, 0.1, 0.1});
  auto params = blk->named_parameters();
  EXPECT_EQ(params["attn.c_attn.weight"].sizes(), at::IntArrayRef({64, 192}));  // [in, out]
  EXPECT_EQ(params["attn.c_proj.weight"].sizes(), at::IntArrayRef({64, 64}));
  EXPECT_EQ(params["mlp.c_fc.weight"].sizes(), at::IntArrayRef({64, 256}));
  EXPECT_EQ(params["mlp.c_proj.weight"].sizes(), at::IntArrayRef({256, 64}));
  for (const char* ln : {"ln_1", "ln_2"}) {
    EXPECT_TRUE(params[std::string(ln) + ".weight"].eq(1).all().item<bool>());
    EXPECT_TRUE(params[std::string(ln) + ".bias"].eq(0).all().item<bool>());
  }
  const at::Tensor w = params["mlp.c_fc.weight"];
  EXPECT_NEAR(w.std().item<double>(), 0.02, 0.002);  // N(0, 0.02)
  EXPECT_TRUE(params["mlp.c_fc.bias"].eq(0).all().item<bool>());
  EXPECT_EQ(blk->ln_1->options.eps(), 1e-5);
}

TEST(Gpt2Block, MasksSayWhoSeesWhom) {
  const at::Tensor c = causal_mask(2, 4, at::kCPU);  // the last 2 of 4 positions
  EXPECT_TRUE(at::equal(c, at::tensor({1, 1, 1, 0, 1, 1, 1, 1}, at::kLong).to(at::kBool).view({2, 4})));
  const at::Tensor b = banded_mask(4, 2, at::kCPU);
  EXPECT_TRUE(
      at::equal(b, at::tensor({1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1}, at::kLong).to(at::kBool).view({4, 4})));
}

TEST(Gpt2Block, CachedPathEqualsFullPass) {
  Gpt2Block blk = random_block();
  torch::NoGradGuard no_grad;
  const at::Tensor x = at::randn({3, 7, 4}, at::kDouble);
  const at::Tensor full = blk->forward(x, causal_mask(7, 7, at::kCPU));
  KvCache cache;
  std::vector<at::Tensor> parts = {blk->forward_cached(x.slice(1, 0, 3), cache, causal_mask(3, 3, at::kCPU))};
  for (int64_t t = 3; t < 7; ++t) parts.push_back(blk->forward_cached(x.slice(1, t, t + 1), cache, at::Tensor()));
  testing::expect_close("prefill 3 + 4 steps", full, at::cat(parts, 1), 1e-12);
  EXPECT_EQ(cache.length(), 7);
  EXPECT_EQ(cache.bytes(), 2 * 3 * 2 * 7 * 2 * 8);  // k and v, [B=3, H=2, S=7, 2] float64

  // A ring of 3 slots reproduces the banded (window 3) pass.
  const at::Tensor banded = blk->forward(x, banded_mask(7, 3, at::kCPU));
  KvCache ring;
  ring.ring = 3;
  std::vector<at::Tensor> steps;
  for (int64_t t = 0; t < 7; ++t) steps.push_back(blk->forward_cached(x.slice(1, t, t + 1), ring, at::Tensor()));
  testing::expect_close("ring of 3 vs banded mask", banded, at::cat(steps, 1), 1e-12);
  EXPECT_EQ(ring.length(), 3);
}

TEST(Gpt2Block, AppendCacheGrowsInPlaceWithoutAutogradAndCopiesUnderIt) {
  // Decoding (no autograd): one token's keys are written per step into buffers that double when
  // full, and the cache equals concatenating every step's keys.
  torch::NoGradGuard no_grad;
  const at::Tensor k = at::randn({2, 3, 150, 4}, at::kDouble), v = at::randn({2, 3, 150, 4}, at::kDouble);
  KvCache cache;
  cache.add(k.slice(2, 0, 10), v.slice(2, 0, 10));
  const void* first_buffer = cache.k.data_ptr();
  for (int64_t t = 10; t < 64; ++t) cache.add(k.slice(2, t, t + 1), v.slice(2, t, t + 1));
  EXPECT_EQ(cache.k.data_ptr(), first_buffer);  // 64 slots from the start: no copy yet
  for (int64_t t = 64; t < 150; ++t) cache.add(k.slice(2, t, t + 1), v.slice(2, t, t + 1));
  EXPECT_NE(cache.k.data_ptr(), first_buffer);  // grew (twice)
  EXPECT_EQ(cache.length(), 150);
  EXPECT_TRUE(at::equal(cache.k, k));
  EXPECT_TRUE(at::equal(cache.v, v));
  EXPECT_EQ(cache.bytes(), 2 * 2 * 3 * 150 * 4 * 8);
}

TEST(Gpt2Block, AppendCacheUnderAutogradLeavesSavedTensorsIntact) {
  // Under autograd the cache concatenates out of place, so a gradient through earlier steps is right.
  const at::Tensor k = at::randn({1, 1, 5, 2}, at::kDouble).requires_grad_(), v = at::randn({1, 1, 5, 2}, at::kDouble);
  KvCache cache;
  cache.add(k.slice(2, 0, 3), v.slice(2, 0, 3));
  const at::Tensor first = cache.k;
  cache.add(k.slice(2, 3, 5), v.slice(2, 3, 5));
  EXPECT_EQ(first.size(2), 3);
  (cache.k.pow(2).sum() + first.sum()).backward();
  at::Tensor want = 2 * k.detach();
  want.slice(2, 0, 3).add_(1.0);
  testing::expect_close("gradient through both steps", want, k.grad(), 1e-12);
}

}  // namespace
}  // namespace scanlab::models
