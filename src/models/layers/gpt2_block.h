// GPT-2 building blocks, laid out exactly as Hugging Face's GPT2Block (PSM spec §3.2): pre-LN,
//   h = x + Drop(Attn(LN1(x))),  y = h + Drop(MLP(LN2(h))),  MLP = c_proj(gelu_new(c_fc(.)))
// with LayerNorm eps 1e-5, a fused c_attn d -> 3d, scores scaled by 1/sqrt(d/H), and Conv1D layers
// (y = x W + b, W stored [in, out], init N(0, 0.02), bias 0), so HF checkpoints load unchanged.
// Shapes: x [B, T, D]; per-layer K/V caches [B, H, S, D/H]. Attention masks are bool [Tq, Tk]
// (true = may attend; an undefined tensor means every key); the query rows are the last Tq keys.
#pragma once
#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <map>
#include <string>
#include <vector>

namespace scanlab::models {

struct Gpt2BlockOptions {
  int64_t n_embd = 768;
  int64_t n_head = 12;
  double attn_pdrop = 0.1;   // on the attention probabilities
  double resid_pdrop = 0.1;  // on each residual branch
};

// HF's Conv1D: a linear layer whose weight is stored [in, out].
class Gpt2Conv1DImpl : public torch::nn::Module {
 public:
  Gpt2Conv1DImpl(int64_t in, int64_t out);
  at::Tensor forward(const at::Tensor& x);  // [..., in] -> [..., out]
  at::Tensor weight, bias;
};
TORCH_MODULE(Gpt2Conv1D);

// Keys and values a layer has seen. Append mode grows without bound (GPT-2 decoding, the T-PSM's
// Inf cache); ring mode (ring = W > 0) keeps the last W tokens in W slots, overwriting the oldest,
// so a step attends to the same key set as a window-W banded mask (in another order).
struct KvCache {
  at::Tensor k, v;              // [B, H, S, D/H]; undefined while empty (append mode: views of k_store, v_store)
  at::Tensor k_store, v_store;  // append mode without autograd: buffers of doubling capacity
  int64_t ring = 0;             // 0: append; W > 0: ring buffer of W slots
  int64_t written = 0;          // tokens ever added (ring mode writes slot written % W)

  int64_t length() const { return k.defined() ? k.size(2) : 0; }
  int64_t bytes() const;  // the S cached tokens' keys and values (the doubling buffers hold up to 2x)
  // Adds this call's k, v [B, H, T, D/H]; ring mode takes one token at a time.
  void add(const at::Tensor& k_new, const at::Tensor& v_new);
};

// Keys and values in fixed-capacity buffers [B, H, S, D/H] that a step writes at given slots in
// place: no allocation per token and fixed addresses, so a decode step can be a CUDA graph (the
// Transformer-PSM's Inf cache: S = 2C, the prefix state's C entries, then this chunk's tokens).
struct KvSlots {
  at::Tensor k, v;
  int64_t bytes() const { return k.defined() ? 2 * k.numel() * static_cast<int64_t>(k.element_size()) : 0; }
};

// The keys and values of N streams stepped together (one token each), stacked along the batch:
// k, v [N, H, S, D/H] hold each stream's entries in its row (padded to S where lengths differ),
// `slots` [N] int64 is where each row's new token goes and `mask` [N, S] bool what each row's query
// may see. Gpt2AttentionImpl::forward_stacked writes the new keys and values into k, v at `slots`
// and leaves them in new_k, new_v [N, H, 1, D/H], for the streams' own caches.
struct StackedKv {
  at::Tensor k, v, slots, mask;
  at::Tensor new_k, new_v;
};

// Mask for queries that are the last tq of tk positions: query i sees keys j <= i + (tk - tq).
at::Tensor causal_mask(int64_t tq, int64_t tk, const at::Device& device);
// Causal and at most `window` keys back (itself included): j <= i < j + window.
at::Tensor banded_mask(int64_t t, int64_t window, const at::Device& device);

class Gpt2AttentionImpl : public torch::nn::Module {
 public:
  explicit Gpt2AttentionImpl(const Gpt2BlockOptions& o);
  // x [B, T, D]; attends within x under `mask` [T, T]. `causal` says that mask is the square causal
  // mask (j <= i): on CUDA the attention then asks SDPA for is_causal instead of reading the mask,
  // which lets it take the flash or cuDNN kernels; the CPU keeps the explicit mask (the reference).
  at::Tensor forward(const at::Tensor& x, const at::Tensor& mask, bool causal = false);
  // Adds x's keys/values to `cache` first, then attends over the whole cache under `mask` [T, S].
  at::Tensor forward_cached(const at::Tensor& x, KvCache& cache, const at::Tensor& mask);
  // Writes x's keys/values [B, H, T, D/H] into `kv` at `slots` ([T] int64, on x's device), then
  // attends over all S slots under `mask` [T, S] (which must hide the slots not yet written).
  at::Tensor forward_slots(const at::Tensor& x, KvSlots& kv, const at::Tensor& slots, const at::Tensor& mask);
  // x [N, 1, D], row n the next token of stream n, attending over row n of `kv` alone: one
  // projection GEMM, one scatter of the new keys and values, one batched attention for all N.
  at::Tensor forward_stacked(const at::Tensor& x, StackedKv& kv);

  Gpt2Conv1D c_attn{nullptr}, c_proj{nullptr};

 private:
  std::vector<at::Tensor> split_heads(const at::Tensor& x);  // q, k, v [B, H, T, D/H]
  // Softmax attention with heads merged, [B, Tq, D], before c_proj.
  at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask,
                       bool causal = false);
  at::Tensor project_out(const at::Tensor& y);  // c_proj and the residual dropout
  Gpt2BlockOptions o_;
};
TORCH_MODULE(Gpt2Attention);

class Gpt2MlpImpl : public torch::nn::Module {
 public:
  explicit Gpt2MlpImpl(const Gpt2BlockOptions& o);
  at::Tensor forward(const at::Tensor& x);
  Gpt2Conv1D c_fc{nullptr}, c_proj{nullptr};

 private:
  double resid_pdrop_;
};
TORCH_MODULE(Gpt2Mlp);

class Gpt2BlockImpl : public torch::nn::Module {
 public:
  explicit Gpt2BlockImpl(const Gpt2BlockOptions& o);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& mask, bool causal = false);
  at::Tensor forward_cached(const at::Tensor& x, KvCache& cache, const at::Tensor& mask);
  at::Tensor forward_slots(const at::Tensor& x, KvSlots& kv, const at::Tensor& slots, const at::Tensor& mask);
  at::Tensor forward_stacked(const at::Tensor& x, StackedKv& kv);

  torch::nn::LayerNorm ln_1{nullptr}, ln_2{nullptr};
  Gpt2Attention attn{nullptr};
  Gpt2Mlp mlp{nullptr};
};
TORCH_MODULE(Gpt2Block);

// n blocks and a final LayerNorm, registered on `owner` as "h" and "ln_f" (HF's names), so a model
// can hold them at its top level (GPT-2) or under a sub-module (the T-PSM's "agg." and "inf.").
class Gpt2Stack;
// Parameters of a Gpt2Stack, counted without building it: per block 12 D^2 + 13 D (c_attn, c_proj,
// c_fc, c_proj with biases, two LayerNorms), plus the final LayerNorm.
double gpt2_stack_parameters(int64_t n_layer, int64_t n_embd);
class Gpt2Stack {
 public:
  Gpt2Stack() = default;
  Gpt2Stack(torch::nn::Module& owner, int64_t n_layer, const Gpt2BlockOptions& o);
  // Blocks, then ln_f; `causal` as in Gpt2AttentionImpl::forward.
  at::Tensor forward(at::Tensor x, const at::Tensor& mask, bool causal = false);
  // One cache per layer; see Gpt2AttentionImpl::forward_cached for the mask.
  at::Tensor forward_cached(at::Tensor x, std::vector<KvCache>& caches, const at::Tensor& mask);
  std::vector<KvCache> empty_caches(int64_t ring = 0) const;
  // One KvSlots per layer; see Gpt2AttentionImpl::forward_slots.
  at::Tensor forward_slots(at::Tensor x, std::vector<KvSlots>& kv, const at::Tensor& slots, const at::Tensor& mask);
  // One StackedKv per layer; see Gpt2AttentionImpl::forward_stacked.
  at::Tensor forward_stacked(at::Tensor x, std::vector<StackedKv>& kv);
  // Zeroed slots for every layer in one tensor [2 * n_layer, batch, heads, capacity, head size]
  // (layer l's K at 2l, V at 2l + 1), dtype and device of `like`; kv_slot_views() gives the
  // per-layer KvSlots. One tensor, so a range of slots of all layers is one copy.
  at::Tensor slot_storage(int64_t batch, int64_t capacity, const at::Tensor& like) const;
  int64_t n_layer() const { return static_cast<int64_t>(blocks_.size()); }

 private:
  Gpt2BlockOptions o_;
  std::vector<Gpt2Block> blocks_;
  torch::nn::LayerNorm ln_f_{nullptr};
};

// Per-layer K and V views of a slot_storage() tensor.
std::vector<KvSlots> kv_slot_views(const at::Tensor& storage);

// Bytes held by a set of per-layer caches.
int64_t kv_cache_bytes(const std::vector<KvCache>& caches);

// Stream save/restore of per-layer caches as "<prefix><layer>.k", ".v" and ".written" (int64 [1]).
// restore_kv_caches checks every layer against `like` (batch, heads, head size, dtype, device):
// the expected batch and head shapes, at most `max_length` entries, and the ring size. It returns
// the number of tensors it consumed, so the caller can reject tensors nobody claimed.
void save_kv_caches(const std::vector<KvCache>& caches, const std::string& prefix,
                    std::map<std::string, at::Tensor>& out);
size_t restore_kv_caches(std::vector<KvCache>& caches, const std::string& prefix,
                         const std::map<std::string, at::Tensor>& in, const at::Tensor& like, int64_t max_length);

}  // namespace scanlab::models
