#include "models/gpt2.h"

#include <torch/nn/init.h>

#include <algorithm>

#include "core/check.h"

namespace scanlab::models {

nlohmann::json Gpt2Options::to_json() const {
  nlohmann::json j = {{"model", kind()},
                      {"vocab_size", vocab_size},
                      {"n_positions", n_positions},
                      {"n_embd", n_embd},
                      {"n_head", n_head},
                      {"n_layer", n_layer},
                      {"tie_word_embeddings", tie_word_embeddings},
                      {"attn_pdrop", attn_pdrop},
                      {"resid_pdrop", resid_pdrop},
                      {"embd_pdrop", embd_pdrop}};
  if (window > 0) j["window"] = window;
  return j;
}

Gpt2Options Gpt2Options::from_json(const nlohmann::json& config, bool sliding) {
  Gpt2Options o;
  if (sliding) o.window = 256;
  StrictJson r = model_config_reader(config, o.kind());
  r.read_at_least("vocab_size", o.vocab_size, 1);
  r.read_at_least("n_positions", o.n_positions, 1);
  r.read_at_least("n_embd", o.n_embd, 1);
  r.read_at_least("n_head", o.n_head, 1);
  r.read_at_least("n_layer", o.n_layer, 1);
  r.read("tie_word_embeddings", o.tie_word_embeddings);
  r.read_probability("attn_pdrop", o.attn_pdrop);
  r.read_probability("resid_pdrop", o.resid_pdrop);
  r.read_probability("embd_pdrop", o.embd_pdrop);
  if (sliding) r.read_at_least("window", o.window, 1);
  r.finish();
  SCANLAB_CHECK(o.n_embd % o.n_head == 0, o.kind(), " config: n_embd ", o.n_embd, " must be a multiple of n_head ",
                o.n_head);
  return o;
}

Gpt2Model::Gpt2Model(const Gpt2Options& o) : o_(o) {
  emb_ = TokenEmbedding(*this, o.vocab_size, o.n_positions, o.n_embd, o.embd_pdrop, 0.02);
  stack_ = Gpt2Stack(*this, o.n_layer, Gpt2BlockOptions{o.n_embd, o.n_head, o.attn_pdrop, o.resid_pdrop});
  if (!o.tie_word_embeddings) {
    lm_head_ =
        register_module("lm_head", torch::nn::Linear(torch::nn::LinearOptions(o.n_embd, o.vocab_size).bias(false)));
    torch::NoGradGuard no_grad;
    lm_head_->weight.normal_(0.0, 0.02);
  }
}

at::Tensor Gpt2Model::embed(const at::Tensor& tokens, int64_t start) {
  const int64_t t = tokens.size(1);
  check_position(start + t - 1);
  const at::Tensor positions =
      at::arange(start, start + t, at::TensorOptions().dtype(at::kLong).device(tokens.device()));
  return emb_.forward(tokens, positions, is_training());
}

void Gpt2Model::check_position(int64_t position) const {
  SCANLAB_CHECK(position < o_.n_positions, kind(), ": position ", position, " has no learned embedding (n_positions ",
                o_.n_positions, "); score or stream at most n_positions tokens");
}

at::Tensor Gpt2Model::head(const at::Tensor& h) {
  return o_.tie_word_embeddings ? at::matmul(h, emb_.token_weight().t()) : lm_head_->forward(h);
}

at::Tensor Gpt2Model::forward(const at::Tensor& tokens) {
  check_token_batch(tokens, o_.vocab_size, false, kind() + " forward");
  const int64_t t = tokens.size(1);
  // Embedding first: its position check must refuse a too-long input before a [T, T] mask is built
  // (a 93,000-token text spent 20 s allocating one, then failed).
  const at::Tensor x = embed(tokens, 0);
  const at::Tensor mask =
      o_.window > 0 ? banded_mask(t, o_.window, tokens.device()) : causal_mask(t, t, tokens.device());
  return head(stack_.forward(x, mask, /*causal=*/o_.window == 0));
}

std::unique_ptr<Stream> Gpt2Model::start_stream(int64_t batch) {
  SCANLAB_CHECK(batch >= 1, kind(), ": stream batch must be >= 1, got ", batch);
  return std::make_unique<Gpt2Stream>(std::dynamic_pointer_cast<Gpt2Model>(shared_from_this()), batch);
}

std::pair<at::Tensor, std::unique_ptr<Stream>> Gpt2Model::prefill(const at::Tensor& tokens) {
  check_token_batch(tokens, o_.vocab_size, false, kind() + " prefill");
  const int64_t t = tokens.size(1);
  auto stream = std::make_unique<Gpt2Stream>(std::dynamic_pointer_cast<Gpt2Model>(shared_from_this()), tokens.size(0));
  // Fill append-mode caches in one pass, then keep the last W entries in ring order (token i in
  // slot i % W), which is where token-by-token steps would have put them.
  std::vector<KvCache> caches = stack_.empty_caches();
  const at::Tensor mask =
      o_.window > 0 ? banded_mask(t, o_.window, tokens.device()) : causal_mask(t, t, tokens.device());
  at::Tensor logits = head(stack_.forward_cached(embed(tokens, 0), caches, mask));
  if (o_.window > 0) {
    for (auto& c : caches) {
      c.ring = o_.window;
      if (t > o_.window) {
        c.k = c.k.slice(2, t - o_.window).roll(t % o_.window, 2);
        c.v = c.v.slice(2, t - o_.window).roll(t % o_.window, 2);
      }
    }
  }
  stream->caches_ = std::move(caches);
  stream->position_ = t;
  return {logits, std::move(stream)};
}

Gpt2Stream::Gpt2Stream(std::shared_ptr<Gpt2Model> model, int64_t batch)
    : m_(std::move(model)), batch_(batch), caches_(m_->stack_.empty_caches(m_->o_.window)) {}

at::Tensor Gpt2Stream::step(const at::Tensor& token) {
  check_token_batch(token, m_->o_.vocab_size, true, m_->kind() + " stream step");
  SCANLAB_CHECK(token.size(0) == batch_, m_->kind(), " stream step: batch ", token.size(0), "; expected ", batch_);
  // No mask: a cached step attends to every stored key (all past tokens, or the ring's last W).
  at::Tensor h = m_->stack_.forward_cached(m_->embed(token.unsqueeze(1), position_), caches_, at::Tensor());
  ++position_;
  return m_->head(h).squeeze(1);
}

std::vector<std::unique_ptr<Stream>> Gpt2Stream::split() const {
  std::vector<std::unique_ptr<Stream>> out;
  for (int64_t b = 0; b < batch_; ++b) {
    auto s = std::make_unique<Gpt2Stream>(m_, 1);
    s->position_ = position_;
    for (size_t l = 0; l < caches_.size(); ++l) {
      KvCache& c = s->caches_[l];
      c.written = caches_[l].written;
      if (caches_[l].k.defined()) {  // its own buffers from the next add on
        c.k = caches_[l].k.narrow(0, b, 1).clone();
        c.v = caches_[l].v.narrow(0, b, 1).clone();
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

at::Tensor Gpt2Stream::step_group(const std::vector<Stream*>& streams, const at::Tensor& tokens) {
  const auto group = streams_as<Gpt2Stream>(streams, [this](const Gpt2Stream& s) { return s.m_ == m_; });
  if (group.empty()) return Stream::step_group(streams, tokens);
  check_token_batch(tokens, m_->o_.vocab_size, true, m_->kind() + " step_together");
  const int64_t n = static_cast<int64_t>(group.size()), heads = m_->o_.n_head, hd = m_->o_.n_embd / heads;
  // Where each stream's token goes and how many entries its query sees: the end of an append cache,
  // or, in a full ring, the oldest slot (which it replaces) with all W seen. Every layer holds
  // the same tokens, so layer 0 says it for all.
  std::vector<int64_t> positions, slots, seen;
  for (const Gpt2Stream* s : group) {
    SCANLAB_CHECK(s->batch_ == 1, m_->kind(), " step_together: a stream of batch ", s->batch_, "; expected batch 1");
    const KvCache& c = s->caches_.front();
    const bool full_ring = c.ring > 0 && c.length() == c.ring;
    positions.push_back(s->position_);
    slots.push_back(full_ring ? c.written % c.ring : c.length());
    seen.push_back(full_ring ? c.ring : c.length() + 1);
  }
  const int64_t width = *std::max_element(seen.begin(), seen.end());
  const at::TensorOptions ids = tokens.options().dtype(at::kLong);
  const at::Tensor slot_ids = at::tensor(slots, at::kLong).to(ids.device());
  const at::Tensor mask =
      at::arange(width, ids).unsqueeze(0).lt(at::tensor(seen, at::kLong).to(ids.device()).unsqueeze(1));
  // Each layer's caches padded to the longest (the padding is zeros, masked off: no NaN reaches the sums).
  const at::TensorOptions like = m_->emb_.token_weight().options();
  std::vector<StackedKv> kv(caches_.size());
  for (size_t l = 0; l < kv.size(); ++l) {
    kv[l].k = at::zeros({n, heads, width, hd}, like);
    kv[l].v = at::zeros({n, heads, width, hd}, like);
    kv[l].slots = slot_ids;
    kv[l].mask = mask;
    for (int64_t i = 0; i < n; ++i) {
      const KvCache& c = group[i]->caches_[l];
      if (c.length() == 0) continue;
      kv[l].k.narrow(0, i, 1).narrow(2, 0, c.length()).copy_(c.k);
      kv[l].v.narrow(0, i, 1).narrow(2, 0, c.length()).copy_(c.v);
    }
  }
  // The N tokens as one sequence [1, N] at their own positions, then one row per stream: [N, 1, D].
  const at::Tensor p = at::tensor(positions, at::kLong).to(ids.device());
  const at::Tensor x = m_->emb_.forward(tokens.unsqueeze(0), p, m_->is_training()).transpose(0, 1);
  const at::Tensor h = m_->stack_.forward_stacked(x, kv);
  for (int64_t i = 0; i < n; ++i) {
    for (size_t l = 0; l < kv.size(); ++l)
      group[i]->caches_[l].add(kv[l].new_k.narrow(0, i, 1), kv[l].new_v.narrow(0, i, 1));
    ++group[i]->position_;
  }
  return m_->head(h).squeeze(1);
}

std::map<std::string, at::Tensor> Gpt2Stream::save() const {
  std::map<std::string, at::Tensor> out;
  out["position"] = at::full({1}, position_, at::kLong);
  save_kv_caches(caches_, "cache.", out);
  return out;
}

void Gpt2Stream::restore(const std::map<std::string, at::Tensor>& tensors) {
  const std::string what = m_->kind() + " stream state";
  const int64_t position = restored_position(tensors, what, m_->o_.n_positions);
  const auto& w = m_->emb_.token_weight();
  const int64_t hd = m_->o_.n_embd / m_->o_.n_head;
  const at::Tensor like = at::empty({batch_, m_->o_.n_head, 0, hd}, w.options());
  std::vector<KvCache> caches = m_->stack_.empty_caches(m_->o_.window);
  const size_t used =
      1 + restore_kv_caches(caches, "cache.", tensors, like, m_->o_.window > 0 ? m_->o_.window : m_->o_.n_positions);
  for (const auto& c : caches)
    SCANLAB_CHECK(c.written == position, what, ": a cache holds ", c.written, " tokens but position is ", position);
  SCANLAB_CHECK(used == tensors.size(), what, ": ", tensors.size() - used,
                " tensor(s) do not belong to this stream (expected 'position' and 'cache.<layer>.{k,v,written}')");
  caches_ = std::move(caches);
  position_ = position;
}

}  // namespace scanlab::models
