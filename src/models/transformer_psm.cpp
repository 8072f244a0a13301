#include "models/transformer_psm.h"

#include "core/check.h"
#include "models/config_reader.h"

namespace scanlab::models {

nlohmann::json TransformerPsmOptions::to_json() const {
  return {{"model", "transformer_psm"}, {"vocab_size", vocab_size},     {"n_positions", n_positions},
          {"n_embd", n_embd},           {"n_head", n_head},             {"n_layer_agg", n_layer_agg},
          {"n_layer_inf", n_layer_inf}, {"chunk_size", chunk_size},     {"position_mode", position_mode},
          {"agg_mask", agg_mask},       {"attn_pdrop", attn_pdrop},     {"resid_pdrop", resid_pdrop},
          {"embd_pdrop", embd_pdrop}};
}

TransformerPsmOptions TransformerPsmOptions::from_json(const nlohmann::json& config) {
  TransformerPsmOptions o;
  ConfigReader r(config, "transformer_psm");
  r.read_int("vocab_size", o.vocab_size, 1);
  r.read_int("n_positions", o.n_positions, 1);
  r.read_int("n_embd", o.n_embd, 1);
  r.read_int("n_head", o.n_head, 1);
  r.read_int("n_layer_agg", o.n_layer_agg, 1);
  r.read_int("n_layer_inf", o.n_layer_inf, 1);
  r.read_int("chunk_size", o.chunk_size, 1);
  r.read_choice("position_mode", o.position_mode, {"global", "chunk_local"});
  r.read_choice("agg_mask", o.agg_mask, {"bidirectional", "causal"});
  r.read_probability("attn_pdrop", o.attn_pdrop);
  r.read_probability("resid_pdrop", o.resid_pdrop);
  r.read_probability("embd_pdrop", o.embd_pdrop);
  r.finish();
  SCANLAB_CHECK(o.n_embd % o.n_head == 0, "transformer_psm config: n_embd ", o.n_embd,
                " must be a multiple of n_head ", o.n_head);
  SCANLAB_CHECK(o.chunk_size <= o.n_positions, "transformer_psm config: chunk_size ", o.chunk_size,
                " exceeds n_positions ", o.n_positions, "; every chunk position needs an embedding");
  return o;
}

TransformerPsm::TransformerPsm(const TransformerPsmOptions& o) : o_(o) {
  // The reference's T0 is a plain nn.Embedding (N(0, 1)) and its head a default nn.Linear.
  emb_ = TokenEmbedding(*this, o.vocab_size, o.n_positions, o.n_embd, o.embd_pdrop, 1.0);
  const Gpt2BlockOptions block{o.n_embd, o.n_head, o.attn_pdrop, o.resid_pdrop};
  agg_holder_ = register_module("agg", std::make_shared<torch::nn::Module>("agg"));
  inf_holder_ = register_module("inf", std::make_shared<torch::nn::Module>("inf"));
  agg_stack_ = Gpt2Stack(*agg_holder_, o.n_layer_agg, block);
  inf_stack_ = Gpt2Stack(*inf_holder_, o.n_layer_inf, block);
  head_ = register_module("head", torch::nn::Linear(torch::nn::LinearOptions(o.n_embd, o.vocab_size).bias(false)));
}

at::Tensor TransformerPsm::encode(const at::Tensor& tokens, int64_t start) {
  const int64_t t = tokens.size(1);
  at::Tensor positions = at::arange(start, start + t, at::TensorOptions().dtype(at::kLong).device(tokens.device()));
  if (o_.position_mode == "chunk_local") {
    positions = positions.remainder(o_.chunk_size);
  } else {
    SCANLAB_CHECK(start + t <= o_.n_positions, "transformer_psm: global position ", start + t - 1,
                  " has no learned embedding (n_positions ", o_.n_positions,
                  "); use position_mode \"chunk_local\" for unbounded streams");
  }
  return emb_.forward(tokens, positions, is_training());
}

scan::TensorState TransformerPsm::agg(const scan::TensorState& older, const scan::TensorState& newer) {
  ++agg_calls_;
  const int64_t c = o_.chunk_size;
  const at::Tensor x = at::cat({older[0], newer[0]}, 1);  // [P*B, 2C, D]
  const at::Tensor mask = o_.agg_mask == "causal" ? causal_mask(2 * c, 2 * c, x.device()) : at::Tensor();
  return {agg_stack_.forward(x, mask).slice(1, c).contiguous()};
}

at::Tensor TransformerPsm::inf_head(const at::Tensor& h) {
  return head_->forward(at::dropout(h, is_training() ? o_.resid_pdrop : 0.0, is_training()));
}

at::Tensor TransformerPsm::forward(const at::Tensor& tokens) {
  check_token_batch(tokens, o_.vocab_size, false, "transformer_psm forward");
  const int64_t b = tokens.size(0), t = tokens.size(1), c = o_.chunk_size, d = o_.n_embd;
  const int64_t n = (t + c - 1) / c;  // chunks; the last may be partial
  // Zero-pad the last chunk: Inf is causal, so padding never reaches a real position's output.
  at::Tensor x = encode(tokens, 0);
  if (n * c > t) x = at::cat({x, at::zeros({b, n * c - t, d}, x.options())}, 1);
  const at::Tensor chunks = x.view({b, n, c, d});

  std::vector<at::Tensor> hidden = {inf_stack_.forward(chunks.select(1, 0), causal_mask(c, c, x.device()))};
  if (n >= 2) {
    // Chunks 1..n-1 need the prefixes of x_0..x_{n-2}: the inclusive scan over those n-1 chunks,
    // which is bracketed as the exclusive scan over all n (scan/blelloch.h) without feeding it
    // the last, possibly partial, chunk.
    std::vector<scan::TensorState> xs;
    for (int64_t i = 0; i + 1 < n; ++i) xs.push_back({chunks.select(1, i)});
    auto prefixes = scan::tensor_blelloch_scan(
        xs, [this](const scan::TensorState& a, const scan::TensorState& y) { return agg(a, y); },
        scan::ScanKind::Inclusive);
    std::vector<at::Tensor> p;
    for (const auto& s : prefixes) p.push_back((*s)[0]);
    // All chunks with a prefix as one batch of (n-1)*B sequences [P_i | x_i] of length 2C.
    const at::Tensor prefix = at::stack(p, 0).reshape({(n - 1) * b, c, d});
    const at::Tensor rest = chunks.slice(1, 1).transpose(0, 1).reshape({(n - 1) * b, c, d});
    const at::Tensor h = inf_stack_.forward(at::cat({prefix, rest}, 1), causal_mask(2 * c, 2 * c, x.device()));
    hidden.push_back(h.slice(1, c).reshape({n - 1, b, c, d}).transpose(0, 1).reshape({b, (n - 1) * c, d}));
  }
  return inf_head(at::cat(hidden, 1).slice(1, 0, t));
}

std::unique_ptr<Stream> TransformerPsm::start_stream(int64_t batch) {
  SCANLAB_CHECK(batch >= 1, "transformer_psm: stream batch must be >= 1, got ", batch);
  return std::make_unique<TransformerPsmStream>(std::dynamic_pointer_cast<TransformerPsm>(shared_from_this()), batch);
}

std::pair<at::Tensor, std::unique_ptr<Stream>> TransformerPsm::prefill(const at::Tensor& tokens) {
  at::Tensor logits = forward(tokens);
  auto stream = std::make_unique<TransformerPsmStream>(std::dynamic_pointer_cast<TransformerPsm>(shared_from_this()),
                                                       tokens.size(0));
  const int64_t t = tokens.size(1), c = o_.chunk_size, full = t / c;
  const at::Tensor x = encode(tokens, 0);
  for (int64_t i = 0; i < full; ++i) stream->scanner_.insert({x.slice(1, i * c, (i + 1) * c)});
  stream->prefill_inf_prefix();
  if (t > full * c) {
    const at::Tensor partial = x.slice(1, full * c);
    const int64_t have = stream->inf_cache_entries(), r = partial.size(1);
    inf_stack_.forward_cached(partial, stream->inf_cache_, causal_mask(r, have + r, x.device()));
    for (int64_t j = 0; j < r; ++j) stream->chunk_.push_back(partial.slice(1, j, j + 1));
  }
  stream->position_ = t;
  return {logits, std::move(stream)};
}

TransformerPsmStream::TransformerPsmStream(std::shared_ptr<TransformerPsm> model, int64_t batch)
    : m_(std::move(model)),
      batch_(batch),
      scanner_([m = m_](const scan::TensorState& a, const scan::TensorState& y) { return m->agg(a, y); }),
      inf_cache_(m_->inf_stack_.empty_caches()) {}

void TransformerPsmStream::prefill_inf_prefix() {
  inf_cache_ = m_->inf_stack_.empty_caches();
  const auto prefix = scanner_.prefix();
  if (!prefix) return;  // chunk 0 has no prefix state
  const int64_t c = m_->o_.chunk_size;
  m_->inf_stack_.forward_cached((*prefix)[0], inf_cache_, causal_mask(c, c, (*prefix)[0].device()));
}

void TransformerPsmStream::complete_chunk() {
  scanner_.insert({at::cat(chunk_, 1)});
  chunk_.clear();
  prefill_inf_prefix();
}

at::Tensor TransformerPsmStream::step(const at::Tensor& token) {
  check_token_batch(token, m_->o_.vocab_size, true, "transformer_psm stream step");
  SCANLAB_CHECK(token.size(0) == batch_, "transformer_psm stream step: batch ", token.size(0), "; expected ", batch_);
  const at::Tensor z = m_->encode(token.unsqueeze(1), position_);  // [B, 1, D]
  // No mask: the cache holds exactly what this position sees (prefix state, then this chunk).
  const at::Tensor h = m_->inf_stack_.forward_cached(z, inf_cache_, at::Tensor());
  chunk_.push_back(z);
  ++position_;
  if (position_ % m_->o_.chunk_size == 0) complete_chunk();
  return m_->inf_head(h).squeeze(1);
}

int64_t TransformerPsmStream::state_bytes() const {
  int64_t bytes = scanner_.stored_bytes() + kv_cache_bytes(inf_cache_);
  for (const auto& z : chunk_) bytes += z.numel() * static_cast<int64_t>(z.element_size());
  return bytes;
}

std::map<std::string, at::Tensor> TransformerPsmStream::save() const {
  std::map<std::string, at::Tensor> out = scanner_.save("scanner.");
  out["position"] = at::full({1}, position_, at::kLong);
  if (!chunk_.empty()) out["chunk"] = at::cat(chunk_, 1).detach();
  save_kv_caches(inf_cache_, "inf_cache.", out);
  return out;
}

void TransformerPsmStream::restore(const std::map<std::string, at::Tensor>& saved) {
  const std::string what = "transformer_psm stream state";
  const int64_t c = m_->o_.chunk_size, d = m_->o_.n_embd;
  std::map<std::string, at::Tensor> tensors;  // on the model's device (a saved file loads to the CPU)
  for (const auto& kv : saved) tensors[kv.first] = kv.second.to(m_->emb_.token_weight().device());
  auto it = tensors.find("position");
  SCANLAB_CHECK(it != tensors.end() && it->second.numel() == 1 && it->second.scalar_type() == at::kLong, what,
                ": tensor 'position' (one int64) is missing or malformed");
  const int64_t position = it->second.item<int64_t>();
  SCANLAB_CHECK(position >= 0, what, ": position ", position, " is negative");
  const at::Tensor& w = m_->emb_.token_weight();

  scan::TensorOnlineScanner scanner(
      [m = m_](const scan::TensorState& a, const scan::TensorState& y) { return m->agg(a, y); });
  scanner.restore(tensors, "scanner.");
  SCANLAB_CHECK(scanner.count() == position / c, what, ": the scanner holds ", scanner.count(),
                " chunks but position ", position, " with chunk_size ", c, " needs ", position / c);
  size_t used = 1;
  for (const auto& kv : tensors) used += kv.first.rfind("scanner.", 0) == 0 ? 1 : 0;
  if (const auto prefix = scanner.prefix()) {
    const at::Tensor& s = (*prefix)[0];
    SCANLAB_CHECK(prefix->size() == 1 && s.sizes() == at::IntArrayRef({batch_, c, d}) &&
                      s.scalar_type() == w.scalar_type(),
                  what, ": scanner states are ", s.sizes(), " ", s.scalar_type(), "; expected [", batch_, ", ", c,
                  ", ", d, "] ", w.scalar_type());
  }

  const int64_t in_chunk = position % c;
  std::vector<at::Tensor> chunk;
  auto ch = tensors.find("chunk");
  if (in_chunk > 0) {
    SCANLAB_CHECK(ch != tensors.end(), what, ": tensor 'chunk' is missing (", in_chunk, " tokens into a chunk)");
    SCANLAB_CHECK(ch->second.sizes() == at::IntArrayRef({batch_, in_chunk, d}) &&
                      ch->second.scalar_type() == w.scalar_type(),
                  what, ": 'chunk' is ", ch->second.sizes(), " ", ch->second.scalar_type(), "; expected [", batch_,
                  ", ", in_chunk, ", ", d, "] ", w.scalar_type());
    for (const auto& z : ch->second.split(1, 1)) chunk.push_back(z);
    ++used;
  } else {
    SCANLAB_CHECK(ch == tensors.end(), what, ": tensor 'chunk' is unexpected at a chunk boundary");
  }

  std::vector<KvCache> cache = m_->inf_stack_.empty_caches();
  const at::Tensor like = at::empty({batch_, m_->o_.n_head, 0, d / m_->o_.n_head}, w.options());
  used += restore_kv_caches(cache, "inf_cache.", tensors, like, 2 * c);
  const int64_t expect = (scanner.count() > 0 ? c : 0) + in_chunk;
  for (const auto& kv : cache)
    SCANLAB_CHECK(kv.written == expect, what, ": an Inf cache holds ", kv.written, " entries; expected ", expect);
  SCANLAB_CHECK(used == tensors.size(), what, ": ", tensors.size() - used, " tensor(s) do not belong to this stream");

  scanner_ = std::move(scanner);
  chunk_ = std::move(chunk);
  inf_cache_ = std::move(cache);
  position_ = position;
}

}  // namespace scanlab::models
