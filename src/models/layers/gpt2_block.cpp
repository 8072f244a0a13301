#include "models/layers/gpt2_block.h"

#include <ATen/core/grad_mode.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/check.h"
#include "core/torch_compat.h"

namespace scanlab::models {

Gpt2Conv1DImpl::Gpt2Conv1DImpl(int64_t in, int64_t out) {
  weight = register_parameter("weight", at::normal(0.0, 0.02, {in, out}));
  bias = register_parameter("bias", at::zeros({out}));
}

// One GEMM with the bias in its epilogue (addmm), not a product and a separate add: one kernel and
// one pass over the output fewer, forward and backward.
at::Tensor Gpt2Conv1DImpl::forward(const at::Tensor& x) {
  std::vector<int64_t> sizes = x.sizes().vec();
  sizes.back() = weight.size(1);
  return at::addmm(bias, x.reshape({-1, x.size(-1)}), weight).view(sizes);
}

int64_t KvCache::bytes() const { return k.defined() ? 2 * k.numel() * static_cast<int64_t>(k.element_size()) : 0; }

void KvCache::add(const at::Tensor& k_new, const at::Tensor& v_new) {
  const int64_t t = k_new.size(2);
  if (ring > 0) {
    SCANLAB_ASSERT(t == 1);
    if (length() < ring) {
      k = k.defined() ? at::cat({k, k_new}, 2) : k_new;
      v = v.defined() ? at::cat({v, v_new}, 2) : v_new;
    } else {
      // Out of place, so tensors an autograd graph saved stay intact.
      const auto slot = at::full({1}, written % ring, at::TensorOptions().dtype(at::kLong).device(k.device()));
      k = k.index_copy(2, slot, k_new);
      v = v.index_copy(2, slot, v_new);
    }
  } else if (at::GradMode::is_enabled() && (k_new.requires_grad() || v_new.requires_grad())) {
    // Out of place under autograd: a step must not write into storage a saved tensor views.
    k = k.defined() ? at::cat({k, k_new}, 2) : k_new;
    v = v.defined() ? at::cat({v, v_new}, 2) : v_new;
  } else {
    // Decoding: k and v view the first `length` slots of buffers that double when full, so a step
    // copies one token's keys, not the whole cache (a cat per token made long decodes quadratic in
    // memory traffic and allocator work).
    const int64_t need = length() + t;
    const bool room = k_store.defined() && k.defined() && k.data_ptr() == k_store.data_ptr() && k_store.size(2) >= need;
    if (!room) {
      const int64_t capacity = std::max<int64_t>(need, std::max<int64_t>(64, 2 * length()));
      auto grow = [&](const at::Tensor& old, const at::Tensor& like) {
        at::Tensor store = at::empty({like.size(0), like.size(1), capacity, like.size(3)}, like.options());
        if (old.defined()) store.narrow(2, 0, old.size(2)).copy_(old);
        return store;
      };
      k_store = grow(k, k_new);
      v_store = grow(v, v_new);
    }
    const int64_t start = length();
    k_store.narrow(2, start, t).copy_(k_new);
    v_store.narrow(2, start, t).copy_(v_new);
    k = k_store.narrow(2, 0, need);
    v = v_store.narrow(2, 0, need);
  }
  written += t;
}

at::Tensor causal_mask(int64_t tq, int64_t tk, const at::Device& device) {
  SCANLAB_ASSERT(tq <= tk);
  auto opts = at::TensorOptions().dtype(at::kLong).device(device);
  at::Tensor i = at::arange(tk - tq, tk, opts).unsqueeze(1), j = at::arange(tk, opts).unsqueeze(0);
  return j.le(i);
}

at::Tensor banded_mask(int64_t t, int64_t window, const at::Device& device) {
  auto opts = at::TensorOptions().dtype(at::kLong).device(device);
  at::Tensor i = at::arange(t, opts).unsqueeze(1), j = at::arange(t, opts).unsqueeze(0);
  return j.le(i).logical_and(i.lt(j + window));
}

Gpt2AttentionImpl::Gpt2AttentionImpl(const Gpt2BlockOptions& o) : o_(o) {
  SCANLAB_CHECK(o.n_head >= 1 && o.n_embd % o.n_head == 0, "GPT-2 attention: n_embd ", o.n_embd,
                " must be a multiple of n_head ", o.n_head);
  c_attn = register_module("c_attn", Gpt2Conv1D(o.n_embd, 3 * o.n_embd));
  c_proj = register_module("c_proj", Gpt2Conv1D(o.n_embd, o.n_embd));
}

std::vector<at::Tensor> Gpt2AttentionImpl::split_heads(const at::Tensor& x) {
  const int64_t b = x.size(0), t = x.size(1), hd = o_.n_embd / o_.n_head;
  std::vector<at::Tensor> qkv = c_attn->forward(x).split(o_.n_embd, -1);
  for (auto& z : qkv) z = z.view({b, t, o_.n_head, hd}).transpose(1, 2);  // [B, H, T, hd]
  return qkv;
}

at::Tensor Gpt2AttentionImpl::attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                        const at::Tensor& mask, bool causal) {
  const double p = is_training() ? o_.attn_pdrop : 0.0;
  at::Tensor y;
#if SCANLAB_HAS_SDPA
  // The fused kernels pay off on the GPU; the CPU keeps the portable path (the exact reference).
  // Not for a float32 single-query decode step: the measured per-token latency grew ~0.22 ms per 1K
  // cached keys (9.2 ms at 40K on the H100), which fits a kernel that parallelises over queries and
  // heads but walks all keys serially; the portable path's matrix products spread the keys instead.
  const bool float32_decode_step = q.size(2) == 1 && q.scalar_type() == at::kFloat;
  if (q.is_cuda() && !float32_decode_step) {
    // A square causal mask goes as is_causal: SDPA's flash and cuDNN kernels take no explicit mask.
    const bool as_causal = causal && q.size(2) == k.size(2);
    y = at::scaled_dot_product_attention(
        q, k, v, mask.defined() && !as_causal ? c10::optional<at::Tensor>(mask) : c10::nullopt, p, as_causal);
  }
#else
  (void)causal;  // only SDPA reads it: the portable path below takes the mask as given
#endif
  if (!y.defined()) {
    at::Tensor scores = at::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(q.size(-1)));
    if (mask.defined()) scores = scores.masked_fill(mask.logical_not(), -std::numeric_limits<double>::infinity());
    y = at::matmul(at::dropout(at::softmax(scores, -1), p, is_training()), v);  // [B, H, Tq, hd]
  }
  return y.transpose(1, 2).reshape({q.size(0), q.size(2), o_.n_embd});
}

at::Tensor Gpt2AttentionImpl::project_out(const at::Tensor& y) {
  return at::dropout(c_proj->forward(y), is_training() ? o_.resid_pdrop : 0.0, is_training());
}

at::Tensor Gpt2AttentionImpl::forward(const at::Tensor& x, const at::Tensor& mask, bool causal) {
  auto qkv = split_heads(x);
  return project_out(attention(qkv[0], qkv[1], qkv[2], mask, causal));
}

at::Tensor Gpt2AttentionImpl::forward_cached(const at::Tensor& x, KvCache& cache, const at::Tensor& mask) {
  auto qkv = split_heads(x);
  cache.add(qkv[1], qkv[2]);
  return project_out(attention(qkv[0], cache.k, cache.v, mask));
}

at::Tensor Gpt2AttentionImpl::forward_slots(const at::Tensor& x, KvSlots& kv, const at::Tensor& slots,
                                            const at::Tensor& mask) {
  auto qkv = split_heads(x);
  // Under autocast the projections come out in bf16 while the slots keep the model's dtype.
  kv.k.index_copy_(2, slots, qkv[1].to(kv.k.scalar_type()));
  kv.v.index_copy_(2, slots, qkv[2].to(kv.v.scalar_type()));
  return project_out(attention(qkv[0], kv.k, kv.v, mask));
}

at::Tensor Gpt2AttentionImpl::forward_stacked(const at::Tensor& x, StackedKv& kv) {
  SCANLAB_ASSERT(x.size(1) == 1 && kv.k.size(0) == x.size(0) && kv.slots.numel() == x.size(0));
  auto qkv = split_heads(x);  // [N, H, 1, hd]
  kv.new_k = qkv[1].to(kv.k.scalar_type());
  kv.new_v = qkv[2].to(kv.v.scalar_type());
  // Row n's token into slot slots[n] of row n, every head and channel.
  const at::Tensor at_slot = kv.slots.view({-1, 1, 1, 1}).expand_as(kv.new_k);
  kv.k.scatter_(2, at_slot, kv.new_k);
  kv.v.scatter_(2, at_slot, kv.new_v);
  const at::Tensor mask = kv.mask.unsqueeze(1).unsqueeze(1);  // [N, 1, 1, S]
  if (x.is_cuda()) return project_out(attention(qkv[0], kv.k, kv.v, mask));
  // On the CPU a batched matmul of N x H one-row products runs them one by one (1.6 ms for N = 128,
  // H = 2, S = 32, measured on 2 cores); as broadcast products and sums it is one kernel each.
  const double p = is_training() ? o_.attn_pdrop : 0.0;
  at::Tensor scores = (qkv[0] * kv.k).sum(-1, /*keepdim=*/true).transpose(-2, -1) /  // [N, H, 1, S]
                      std::sqrt(static_cast<double>(qkv[0].size(-1)));
  scores = scores.masked_fill(mask.logical_not(), -std::numeric_limits<double>::infinity());
  const at::Tensor probs = at::dropout(at::softmax(scores, -1), p, is_training());
  const at::Tensor y = (probs.transpose(-2, -1) * kv.v).sum(2);  // [N, H, D/H]
  return project_out(y.reshape({x.size(0), 1, o_.n_embd}));
}

Gpt2MlpImpl::Gpt2MlpImpl(const Gpt2BlockOptions& o) : resid_pdrop_(o.resid_pdrop) {
  c_fc = register_module("c_fc", Gpt2Conv1D(o.n_embd, 4 * o.n_embd));
  c_proj = register_module("c_proj", Gpt2Conv1D(4 * o.n_embd, o.n_embd));
}

at::Tensor Gpt2MlpImpl::forward(const at::Tensor& x) {
  // gelu_new: HF's tanh approximation of GELU.
  at::Tensor h = c_proj->forward(at::gelu(c_fc->forward(x), "tanh"));
  return at::dropout(h, is_training() ? resid_pdrop_ : 0.0, is_training());
}

Gpt2BlockImpl::Gpt2BlockImpl(const Gpt2BlockOptions& o) {
  auto ln = [&] { return torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.n_embd}).eps(1e-5)); };
  ln_1 = register_module("ln_1", ln());
  attn = register_module("attn", Gpt2Attention(o));
  ln_2 = register_module("ln_2", ln());
  mlp = register_module("mlp", Gpt2Mlp(o));
}

at::Tensor Gpt2BlockImpl::forward(const at::Tensor& x, const at::Tensor& mask, bool causal) {
  at::Tensor h = x + attn->forward(ln_1->forward(x), mask, causal);
  return h + mlp->forward(ln_2->forward(h));
}

at::Tensor Gpt2BlockImpl::forward_cached(const at::Tensor& x, KvCache& cache, const at::Tensor& mask) {
  at::Tensor h = x + attn->forward_cached(ln_1->forward(x), cache, mask);
  return h + mlp->forward(ln_2->forward(h));
}

at::Tensor Gpt2BlockImpl::forward_slots(const at::Tensor& x, KvSlots& kv, const at::Tensor& slots,
                                        const at::Tensor& mask) {
  at::Tensor h = x + attn->forward_slots(ln_1->forward(x), kv, slots, mask);
  return h + mlp->forward(ln_2->forward(h));
}

at::Tensor Gpt2BlockImpl::forward_stacked(const at::Tensor& x, StackedKv& kv) {
  at::Tensor h = x + attn->forward_stacked(ln_1->forward(x), kv);
  return h + mlp->forward(ln_2->forward(h));
}

double gpt2_stack_parameters(int64_t n_layer, int64_t n_embd) {
  const double d = static_cast<double>(n_embd);
  return static_cast<double>(n_layer) * (12.0 * d * d + 13.0 * d) + 2.0 * d;
}

Gpt2Stack::Gpt2Stack(torch::nn::Module& owner, int64_t n_layer, const Gpt2BlockOptions& o) : o_(o) {
  torch::nn::ModuleList h;
  for (int64_t i = 0; i < n_layer; ++i) {
    blocks_.push_back(Gpt2Block(o));
    h->push_back(blocks_.back());
  }
  owner.register_module("h", h);
  ln_f_ = owner.register_module("ln_f", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.n_embd}).eps(1e-5)));
}

at::Tensor Gpt2Stack::forward(at::Tensor x, const at::Tensor& mask, bool causal) {
  for (auto& b : blocks_) x = b->forward(x, mask, causal);
  return ln_f_->forward(x);
}

at::Tensor Gpt2Stack::forward_cached(at::Tensor x, std::vector<KvCache>& caches, const at::Tensor& mask) {
  SCANLAB_ASSERT(caches.size() == blocks_.size());
  for (size_t i = 0; i < blocks_.size(); ++i) x = blocks_[i]->forward_cached(x, caches[i], mask);
  return ln_f_->forward(x);
}

std::vector<KvCache> Gpt2Stack::empty_caches(int64_t ring) const {
  std::vector<KvCache> caches(blocks_.size());
  for (auto& c : caches) c.ring = ring;
  return caches;
}

at::Tensor Gpt2Stack::forward_slots(at::Tensor x, std::vector<KvSlots>& kv, const at::Tensor& slots,
                                    const at::Tensor& mask) {
  SCANLAB_ASSERT(kv.size() == blocks_.size());
  for (size_t i = 0; i < blocks_.size(); ++i) x = blocks_[i]->forward_slots(x, kv[i], slots, mask);
  return ln_f_->forward(x);
}

at::Tensor Gpt2Stack::forward_stacked(at::Tensor x, std::vector<StackedKv>& kv) {
  SCANLAB_ASSERT(kv.size() == blocks_.size());
  for (size_t i = 0; i < blocks_.size(); ++i) x = blocks_[i]->forward_stacked(x, kv[i]);
  return ln_f_->forward(x);
}

at::Tensor Gpt2Stack::slot_storage(int64_t batch, int64_t capacity, const at::Tensor& like) const {
  return at::zeros({2 * n_layer(), batch, o_.n_head, capacity, o_.n_embd / o_.n_head}, like.options());
}

std::vector<KvSlots> kv_slot_views(const at::Tensor& storage) {
  SCANLAB_ASSERT(storage.dim() == 5 && storage.size(0) % 2 == 0);
  std::vector<KvSlots> kv(storage.size(0) / 2);
  for (int64_t l = 0; l < static_cast<int64_t>(kv.size()); ++l)
    kv[l] = {storage.select(0, 2 * l), storage.select(0, 2 * l + 1)};
  return kv;
}

int64_t kv_cache_bytes(const std::vector<KvCache>& caches) {
  int64_t b = 0;
  for (const auto& c : caches) b += c.bytes();
  return b;
}

void save_kv_caches(const std::vector<KvCache>& caches, const std::string& prefix,
                    std::map<std::string, at::Tensor>& out) {
  for (size_t l = 0; l < caches.size(); ++l) {
    const std::string p = prefix + std::to_string(l) + ".";
    out[p + "written"] = at::full({1}, caches[l].written, at::kLong);
    if (caches[l].k.defined()) {
      out[p + "k"] = caches[l].k.detach();
      out[p + "v"] = caches[l].v.detach();
    }
  }
}

size_t restore_kv_caches(std::vector<KvCache>& caches, const std::string& prefix,
                         const std::map<std::string, at::Tensor>& in, const at::Tensor& like, int64_t max_length) {
  size_t consumed = 0;
  std::vector<KvCache> restored = caches;
  for (size_t l = 0; l < restored.size(); ++l) {
    const std::string p = prefix + std::to_string(l) + ".";
    auto w = in.find(p + "written");
    SCANLAB_CHECK(w != in.end(), "stream state: tensor '", p, "written' is missing");
    SCANLAB_CHECK(w->second.numel() == 1 && w->second.scalar_type() == at::kLong, "stream state: '", p,
                  "written' must be one int64");
    KvCache& c = restored[l];
    c.written = w->second.item<int64_t>();
    const int64_t expect_len = c.ring > 0 ? std::min(c.written, c.ring) : c.written;
    SCANLAB_CHECK(c.written >= 0 && expect_len <= max_length, "stream state: '", p, "written' is ", c.written,
                  "; expected 0..", max_length);
    ++consumed;
    c.k = at::Tensor();
    c.v = at::Tensor();
    if (expect_len == 0) continue;
    for (const char* kv : {"k", "v"}) {
      auto t = in.find(p + kv);
      SCANLAB_CHECK(t != in.end(), "stream state: tensor '", p, kv, "' is missing");
      const at::Tensor& x = t->second;
      const std::vector<int64_t> want = {like.size(0), like.size(1), expect_len, like.size(3)};
      SCANLAB_CHECK(x.sizes() == at::IntArrayRef(want) && x.scalar_type() == like.scalar_type(), "stream state: '", p,
                    kv, "' is ", x.sizes(), " ", x.scalar_type(), "; expected ", at::IntArrayRef(want), " ",
                    like.scalar_type());
      (kv[0] == 'k' ? c.k : c.v) = x.to(like.device());
      ++consumed;
    }
  }
  caches = std::move(restored);
  return consumed;
}

}  // namespace scanlab::models
