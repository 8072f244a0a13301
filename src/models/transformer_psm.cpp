#include "models/transformer_psm.h"

#include <map>

#include "core/activation_checkpoint.h"
#include "core/check.h"
#include "core/enum_names.h"
#include "scan/counter_from_scan.h"

namespace scanlab::models {
namespace {

const EnumNames<PositionMode> kPositionModes{{"global", PositionMode::kGlobal},
                                             {"chunk_local", PositionMode::kChunkLocal}};
const EnumNames<AggMask> kAggMasks{{"bidirectional", AggMask::kBidirectional}, {"causal", AggMask::kCausal}};

}  // namespace

nlohmann::json TransformerPsmOptions::to_json() const {
  return {{"model", "transformer_psm"},
          {"vocab_size", vocab_size},
          {"n_positions", n_positions},
          {"n_embd", n_embd},
          {"n_head", n_head},
          {"n_layer_agg", n_layer_agg},
          {"n_layer_inf", n_layer_inf},
          {"chunk_size", chunk_size},
          {"position_mode", kPositionModes.name(position_mode)},
          {"agg_mask", kAggMasks.name(agg_mask)},
          {"attn_pdrop", attn_pdrop},
          {"resid_pdrop", resid_pdrop},
          {"embd_pdrop", embd_pdrop},
          {"checkpoint_agg", checkpoint_agg}};
}

TransformerPsmOptions TransformerPsmOptions::from_json(const nlohmann::json& config) {
  TransformerPsmOptions o;
  StrictJson r = model_config_reader(config, "transformer_psm");
  r.read_at_least("vocab_size", o.vocab_size, 1);
  r.read_at_least("n_positions", o.n_positions, 1);
  r.read_at_least("n_embd", o.n_embd, 1);
  r.read_at_least("n_head", o.n_head, 1);
  r.read_at_least("n_layer_agg", o.n_layer_agg, 1);
  r.read_at_least("n_layer_inf", o.n_layer_inf, 1);
  r.read_in("chunk_size", o.chunk_size, 1, kMaxChunkLength);
  kPositionModes.read(r, "position_mode", o.position_mode);
  kAggMasks.read(r, "agg_mask", o.agg_mask);
  r.read_probability("attn_pdrop", o.attn_pdrop);
  r.read_probability("resid_pdrop", o.resid_pdrop);
  r.read_probability("embd_pdrop", o.embd_pdrop);
  r.read("checkpoint_agg", o.checkpoint_agg);
  r.finish();
  SCANLAB_CHECK(o.n_embd % o.n_head == 0, "transformer_psm config: n_embd ", o.n_embd, " must be a multiple of n_head ",
                o.n_head);
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
  if (o_.position_mode == PositionMode::kChunkLocal) {
    positions = positions.remainder(o_.chunk_size);
  } else {
    SCANLAB_CHECK(start + t <= o_.n_positions, "transformer_psm: global position ", start + t - 1,
                  " has no learned embedding (n_positions ", o_.n_positions,
                  "); use position_mode \"chunk_local\" for unbounded streams");
  }
  return emb_.forward(tokens, positions, is_training());
}

at::Tensor TransformerPsm::encode_at(const at::Tensor& tokens, const at::Tensor& position) {
  const at::Tensor p = o_.position_mode == PositionMode::kChunkLocal ? position.remainder(o_.chunk_size) : position;
  return emb_.forward(tokens, p, is_training());
}

scan::TensorState TransformerPsm::agg(const scan::TensorState& older, const scan::TensorState& newer) {
  ++agg_calls_;
  const int64_t c = o_.chunk_size;
  auto level = [this, c](const std::vector<at::Tensor>& in) {
    const at::Tensor x = at::cat({in[0], in[1]}, 1);  // [P*B, 2C, D]
    const at::Tensor mask = o_.agg_mask == AggMask::kCausal ? causal_mask(2 * c, 2 * c, x.device()) : at::Tensor();
    return agg_stack_.forward(x, mask, /*causal=*/mask.defined()).slice(1, c).contiguous();
  };
  if (!o_.checkpoint_agg) return {level({older[0], newer[0]})};
  // The level's activations (concatenation, attention, MLP) are recomputed in the backward.
  return {checkpointed(level, {older[0], newer[0]}, agg_holder_->parameters())};
}

at::Tensor TransformerPsm::inf_head(const at::Tensor& h) {
  return head_->forward(at::dropout(h, is_training() ? o_.resid_pdrop : 0.0, is_training()));
}

// Chunks 1..n-1 need the prefixes of x_0..x_{n-2}: the inclusive scan over those n-1 chunks, which is
// bracketed as the exclusive scan over all n (scan/blelloch.h) without feeding it the last, possibly
// partial, chunk. Written as blelloch_scan(Inclusive)'s up- and down-sweep so that prefill can keep
// both: the sweeps over the n-1 chunks are what the stream's counter holds after n-1 inserts.
TransformerPsm::BlockScanResult TransformerPsm::whole_sequence_scan(const at::Tensor& chunks,
                                                                    const scan::BatchedAgg<scan::TensorState>& agg,
                                                                    ScanSweeps* keep) {
  const int64_t n = chunks.size(1);
  BlockScanResult r{chunks, {scan::Prefix<scan::TensorState>()}};
  if (n < 2) return r;
  std::vector<scan::TensorState> xs;
  for (int64_t i = 0; i + 1 < n; ++i) xs.push_back({chunks.select(1, i)});
  scan::check_state_sequence(xs);
  const int64_t levels = scan::ceil_log2(n);  // need_end = (n - 1) + 1 outputs
  auto tree = scan::blelloch_upsweep(xs, levels, /*with_root=*/false, agg);
  r.prefixes = scan::blelloch_downsweep(tree, levels, n, scan::Prefix<scan::TensorState>(), agg);
  if (keep) *keep = {std::move(tree), r.prefixes, n - 1};
  return r;
}

at::Tensor TransformerPsm::forward(const at::Tensor& tokens) {
  return forward_block(tokens, 0, [](const at::Tensor& chunks, const scan::BatchedAgg<scan::TensorState>& agg) {
    return whole_sequence_scan(chunks, agg, nullptr);
  });
}

at::Tensor TransformerPsm::forward_block(const at::Tensor& tokens, int64_t first_chunk, const BlockScan& scan) {
  check_token_batch(tokens, o_.vocab_size, false, "transformer_psm forward");
  const int64_t b = tokens.size(0), t = tokens.size(1), c = o_.chunk_size, d = o_.n_embd;
  const int64_t n = (t + c - 1) / c;  // chunks; the last may be partial
  SCANLAB_CHECK(n >= 1, "transformer_psm: a block needs at least one token");
  // Zero-pad the last chunk: Inf is causal, so padding never reaches a real position's output.
  at::Tensor x = encode(tokens, first_chunk * c);
  if (n * c > t) x = at::cat({x, at::zeros({b, n * c - t, d}, x.options())}, 1);
  const auto agg_fn =
      scan::batch_tensor_agg([this](const scan::TensorState& a, const scan::TensorState& y) { return agg(a, y); });
  const BlockScanResult s = scan(x.view({b, n, c, d}), agg_fn);
  SCANLAB_ASSERT(static_cast<int64_t>(s.prefixes.size()) == n);
  const at::Tensor& chunks = s.chunks;

  // Only global chunk 0 has no prefix: Inf runs over it alone.
  std::vector<at::Tensor> hidden;
  const int64_t with = s.prefixes[0] ? 0 : 1;  // first chunk with a prefix
  if (with == 1) hidden.push_back(inf_stack_.forward(chunks.select(1, 0), causal_mask(c, c, x.device()), true));
  if (n > with) {
    std::vector<at::Tensor> p;
    for (int64_t i = with; i < n; ++i) {
      SCANLAB_ASSERT(s.prefixes[i].has_value());
      p.push_back((*s.prefixes[i])[0]);
    }
    // All chunks with a prefix as one batch of m*B sequences [P_i | x_i] of length 2C.
    const int64_t m = n - with;
    const at::Tensor prefix = at::stack(p, 0).reshape({m * b, c, d});
    const at::Tensor rest = chunks.slice(1, with).transpose(0, 1).reshape({m * b, c, d});
    const at::Tensor h = inf_stack_.forward(at::cat({prefix, rest}, 1), causal_mask(2 * c, 2 * c, x.device()), true);
    hidden.push_back(h.slice(1, c).reshape({m, b, c, d}).transpose(0, 1).reshape({b, m * c, d}));
  }
  return inf_head(at::cat(hidden, 1).slice(1, 0, t));
}

std::unique_ptr<Stream> TransformerPsm::start_stream(int64_t batch) {
  SCANLAB_CHECK(batch >= 1, "transformer_psm: stream batch must be >= 1, got ", batch);
  return std::make_unique<TransformerPsmStream>(std::dynamic_pointer_cast<TransformerPsm>(shared_from_this()), batch);
}

std::pair<at::Tensor, std::unique_ptr<Stream>> TransformerPsm::prefill(const at::Tensor& tokens) {
  // The forward's own scan (forward()'s bracketing and batched calls), keeping its up-sweep tree and
  // down-sweep prefixes: the stream's counter is read off them (scan/counter_from_scan.h) instead of
  // inserting the prompt's chunks one by one, which evaluated the same Agg tree a second time.
  ScanSweeps sweeps;
  at::Tensor chunks;  // the prompt's encodings [B, n, C, D], the last chunk zero-padded
  at::Tensor logits =
      forward_block(tokens, 0, [&](const at::Tensor& encoded, const scan::BatchedAgg<scan::TensorState>& agg) {
        chunks = encoded;
        return whole_sequence_scan(encoded, agg, &sweeps);
      });
  auto stream = std::make_unique<TransformerPsmStream>(std::dynamic_pointer_cast<TransformerPsm>(shared_from_this()),
                                                       tokens.size(0));
  at::NoGradGuard no_grad;  // the stream's buffers are inference state
  const int64_t t = tokens.size(1), c = o_.chunk_size, full = t / c;
  const int64_t scanned = sweeps.scanned;  // every complete chunk but, for whole chunks, the last
  auto snap = scan::counter_snapshot_from_scan(sweeps.tree, sweeps.down, scanned);
  for (auto* slots : {&snap.roots, &snap.folds})
    for (auto& state : *slots)
      if (state)
        for (at::Tensor& part : *state) part = part.detach();
  stream->scanner_.restore_snapshot(std::move(snap));
  const at::Tensor x = chunks.detach().reshape({tokens.size(0), -1, o_.n_embd}).slice(1, 0, t);
  // A prompt of whole chunks: its last chunk had no successor to need its prefix, so it was not scanned.
  for (int64_t i = scanned; i < full; ++i) stream->scanner_.insert({x.slice(1, i * c, (i + 1) * c)});
  stream->prefill_inf_prefix();
  stream->publish_prefix();
  stream->position_dev_.fill_(full * c);
  if (t > full * c) {
    const at::Tensor partial = x.slice(1, full * c);
    const int64_t r = partial.size(1);
    inf_stack_.forward_slots(partial, stream->inf_kv_, stream->slot_ids_.slice(0, c, c + r),
                             stream->inf_mask(stream->position_dev_, r));
    stream->chunk_.slice(1, 0, r).copy_(partial);
  }
  stream->position_ = t;
  stream->position_dev_.fill_(t);
  return {logits, std::move(stream)};
}

TransformerPsmStream::TransformerPsmStream(std::shared_ptr<TransformerPsm> model, int64_t batch)
    : m_(std::move(model)),
      batch_(batch),
      scanner_([this](const scan::TensorState& a, const scan::TensorState& y) { return stream_agg(a, y); }) {
  const at::Tensor& w = m_->emb_.token_weight();
  const int64_t c = m_->o_.chunk_size;
  chunk_ = at::zeros({batch, c, m_->o_.n_embd}, w.options());
  sealed_ = at::zeros_like(chunk_);
  inf_slots_ = m_->inf_stack_.slot_storage(batch, 2 * c, w);
  inf_kv_ = kv_slot_views(inf_slots_);
  staged_slots_ = m_->inf_stack_.slot_storage(batch, c, w);
  staged_kv_ = kv_slot_views(staged_slots_);
  position_dev_ = at::zeros({1}, w.options().dtype(at::kLong));
  slot_ids_ = at::arange(2 * c, w.options().dtype(at::kLong));
}

int64_t TransformerPsmStream::inf_cache_entries() const { return (has_prefix() ? m_->o_.chunk_size : 0) + in_chunk(); }

bool TransformerPsmStream::use_cuda_graphs(bool on) {
  for (CudaGraphCall* g : graphs()) g->set_enabled(on);
  return on && cuda_graphs_built() && chunk_.is_cuda();
}

bool TransformerPsmStream::use_boundary_overlap(bool on) {
  overlap_boundary_ = on;
  return on && SideStream::available(chunk_.device());
}

scan::TensorState TransformerPsmStream::stream_agg(const scan::TensorState& older, const scan::TensorState& newer) {
  return {agg_graph_.run({older[0], newer[0]},
                         [this](const std::vector<at::Tensor>& in) { return m_->agg({in[0]}, {in[1]})[0]; })};
}

at::Tensor TransformerPsmStream::inf_mask(const at::Tensor& position, int64_t rows) const {
  const int64_t c = m_->o_.chunk_size;
  const at::Tensor p = rows == 1 ? position : position + at::arange(rows, position.options());  // [rows]
  const at::Tensor own_slot = (p.remainder(c) + c).unsqueeze(1), seen_prefix = p.ge(c).unsqueeze(1);
  const at::Tensor j = slot_ids_.unsqueeze(0);  // [1, 2C]
  return j.ge(c).logical_and(j.le(own_slot)).logical_or(j.lt(c).logical_and(seen_prefix));
}

void TransformerPsmStream::prefill_inf_prefix() {
  const auto prefix = scanner_.prefix();
  if (!prefix) return;  // chunk 0 has no prefix state
  prefix_graph_.run({(*prefix)[0]}, [this](const std::vector<at::Tensor>& in) {
    inf_prefix_into(in[0], staged_kv_);
    return at::Tensor();  // the result is the K/V written into the staging slots
  });
}

void TransformerPsmStream::inf_prefix_into(const at::Tensor& prefix, std::vector<KvSlots>& kv) const {
  // Prefix row i sees prefix slots j <= i (causal within the prefix, as in the parallel forward).
  const at::Tensor rows = slot_ids_.slice(0, 0, m_->o_.chunk_size);
  m_->inf_stack_.forward_slots(prefix, kv, rows, rows.unsqueeze(0).le(rows.unsqueeze(1)));
}

void TransformerPsmStream::complete_chunks_together(const std::vector<TransformerPsmStream*>& done) {
  std::map<int64_t, std::vector<TransformerPsmStream*>> by_count;
  for (TransformerPsmStream* s : done) by_count[s->scanner_.count()].push_back(s);
  for (const auto& [count, group] : by_count) {
    if (group.size() == 1) {
      group[0]->complete_chunk(group[0]->chunk_);
      group[0]->publish_prefix();
      continue;
    }
    // Equal counts: the counters hold states under the same names, so one counter over them all,
    // stacked along the batch, makes each of their Agg calls once.
    TransformerPsm* m = group[0]->m_.get();
    std::map<std::string, std::vector<at::Tensor>> parts;
    for (const TransformerPsmStream* s : group)
      for (const auto& [name, t] : s->scanner_.save("")) parts[name].push_back(t);
    std::map<std::string, at::Tensor> stacked;
    for (const auto& [name, ts] : parts) stacked[name] = name == "count" ? ts.front() : at::cat(ts, 0);
    scan::TensorOnlineScanner joint(
        [m](const scan::TensorState& a, const scan::TensorState& y) { return m->agg(a, y); });
    joint.restore(stacked, "");
    std::vector<at::Tensor> chunks;
    for (const TransformerPsmStream* s : group) chunks.push_back(s->chunk_);
    joint.insert({at::cat(chunks, 0)});  // a copy: the streams' chunk buffers are overwritten next
    const auto after = joint.save("");
    for (size_t i = 0; i < group.size(); ++i) {
      std::map<std::string, at::Tensor> row;
      for (const auto& [name, t] : after)
        row[name] = name == "count" ? t : t.narrow(0, static_cast<int64_t>(i), 1).clone();
      group[i]->scanner_.restore(row, "");
    }
    // The Inf K/V of the new prefixes, once over the group, straight into each stream's prefix slots.
    const at::Tensor prefix = (*joint.prefix())[0];  // [N, C, D]
    const at::Tensor staged = m->inf_stack_.slot_storage(prefix.size(0), m->o_.chunk_size, prefix);
    std::vector<KvSlots> kv = kv_slot_views(staged);
    group[0]->inf_prefix_into(prefix, kv);
    for (size_t i = 0; i < group.size(); ++i)
      group[i]->inf_slots_.narrow(3, 0, m->o_.chunk_size).copy_(staged.narrow(1, static_cast<int64_t>(i), 1));
  }
}

void TransformerPsmStream::publish_prefix() {
  if (has_prefix()) inf_slots_.narrow(3, 0, m_->o_.chunk_size).copy_(staged_slots_);
}

void TransformerPsmStream::complete_chunk(const at::Tensor& chunk) {
  scanner_.insert({chunk.clone()});  // the caller's buffer is overwritten by the next chunk
  prefill_inf_prefix();
}

void TransformerPsmStream::seal_chunk(const at::Tensor& token) {
  const int64_t c = m_->o_.chunk_size;
  sealed_.slice(1, 0, c - 1).copy_(chunk_.slice(1, 0, c - 1));
  sealed_.slice(1, c - 1).copy_(m_->encode_at(token.unsqueeze(1), position_dev_));
}

at::Tensor TransformerPsmStream::plain_step(const at::Tensor& token) {
  const int64_t c = m_->o_.chunk_size;
  const at::Tensor z = m_->encode_at(token.unsqueeze(1), position_dev_);  // [B, 1, D]
  const at::Tensor row = position_dev_.remainder(c);                      // [1]: index in the chunk
  const at::Tensor h = m_->inf_stack_.forward_slots(z, inf_kv_, row + c, inf_mask(position_dev_, 1));
  chunk_.index_copy_(1, row, z);
  position_dev_.add_(1);
  return m_->inf_head(h).squeeze(1);
}

at::Tensor TransformerPsmStream::step(const at::Tensor& token) {
  check_token_batch(token, m_->o_.vocab_size, true, "transformer_psm stream step");
  SCANLAB_CHECK(token.size(0) == batch_, "transformer_psm stream step: batch ", token.size(0), "; expected ", batch_);
  check_next_step();
  at::NoGradGuard no_grad;  // the step writes its buffers in place
  const bool last_of_chunk = in_chunk() == m_->o_.chunk_size - 1;
  // In training mode the encoding draws dropout, so a sealed copy would not match the step's own.
  const bool overlap = last_of_chunk && overlap_boundary_ && !m_->is_training();
  if (overlap) {
    // The complete chunk is known before this token's step runs: hand a copy of it to the
    // boundary work, which then needs nothing this step writes, and mark that point.
    seal_graph_.run({token}, [this](const std::vector<at::Tensor>& in) {
      seal_chunk(in[0]);
      return at::Tensor();
    });
    boundary_side_.mark(chunk_.device());
  }
  at::Tensor logits = step_graph_.run({token}, [this](const std::vector<at::Tensor>& in) { return plain_step(in[0]); });
  ++position_;
  if (last_of_chunk) {
    if (overlap) {
      // Queued after this step's own (allocating) work, as SideStream requires; the step reads the
      // old prefix slots while the boundary work fills the staging ones.
      boundary_side_.run([this] { complete_chunk(sealed_); });
      boundary_side_.join();
    } else {
      complete_chunk(chunk_);
    }
    publish_prefix();
  }
  return logits;
}

void TransformerPsmStream::check_next_step() const {
  SCANLAB_CHECK(m_->o_.position_mode == PositionMode::kChunkLocal || position_ < m_->o_.n_positions,
                "transformer_psm: global position ", position_, " has no learned embedding (n_positions ",
                m_->o_.n_positions, "); use position_mode \"chunk_local\" for unbounded streams");
}

std::vector<std::unique_ptr<Stream>> TransformerPsmStream::split() const {
  const auto states = scanner_.save("scanner.");
  std::vector<std::unique_ptr<Stream>> out;
  at::NoGradGuard no_grad;
  for (int64_t b = 0; b < batch_; ++b) {
    auto s = std::make_unique<TransformerPsmStream>(m_, 1);
    std::map<std::string, at::Tensor> row;  // the counter's chunk states are [B, C, D]; its count is shared
    for (const auto& [name, t] : states) row[name] = name == "scanner.count" ? t : t.narrow(0, b, 1).clone();
    s->scanner_.restore(row, "scanner.");
    s->chunk_.copy_(chunk_.narrow(0, b, 1));
    s->inf_slots_.copy_(inf_slots_.narrow(1, b, 1));
    s->position_ = position_;
    s->position_dev_.fill_(position_);
    s->overlap_boundary_ = overlap_boundary_;
    out.push_back(std::move(s));
  }
  return out;
}

at::Tensor TransformerPsmStream::step_group(const std::vector<Stream*>& streams, const at::Tensor& tokens) {
  const auto group =
      streams_as<TransformerPsmStream>(streams, [this](const TransformerPsmStream& s) { return s.m_ == m_; });
  if (group.empty()) return Stream::step_group(streams, tokens);
  check_token_batch(tokens, m_->o_.vocab_size, true, "transformer_psm step_together");
  const int64_t c = m_->o_.chunk_size, n = static_cast<int64_t>(group.size());
  std::vector<int64_t> positions;
  std::vector<at::Tensor> slots;
  for (const TransformerPsmStream* s : group) {
    SCANLAB_CHECK(s->batch_ == 1, "transformer_psm step_together: a stream of batch ", s->batch_, "; expected batch 1");
    positions.push_back(s->position_);
    slots.push_back(s->inf_slots_);
  }
  at::NoGradGuard no_grad;                                                    // the steps write their buffers in place
  const at::Tensor p = at::tensor(positions, at::kLong).to(tokens.device());  // [N]
  // Every stream's Inf slots, all layers, in one copy: [2L, N, H, 2C, D/H]. inf_mask over [N]
  // positions gives row i the [2C] mask of stream i's next token, as its own step builds it.
  const at::Tensor stacked = at::cat(slots, 1), own_slots = p.remainder(c) + c, masks = inf_mask(p, 1);
  std::vector<StackedKv> kv(inf_kv_.size());
  for (size_t l = 0; l < kv.size(); ++l)
    kv[l] = {stacked.select(0, 2 * static_cast<int64_t>(l)),
             stacked.select(0, 2 * static_cast<int64_t>(l) + 1),
             own_slots,
             masks,
             {},
             {}};
  // The N tokens as one sequence [1, N] at their own positions, then one row per stream: [N, 1, D].
  const at::Tensor z = m_->encode_at(tokens.unsqueeze(0), p).transpose(0, 1);
  const at::Tensor logits = m_->inf_head(m_->inf_stack_.forward_stacked(z, kv)).squeeze(1);
  // Each stream's new keys and values, all layers [2L, N, H, 1, D/H], back into its own slot.
  std::vector<at::Tensor> fresh;
  for (const auto& layer : kv) {
    fresh.push_back(layer.new_k);
    fresh.push_back(layer.new_v);
  }
  const at::Tensor written = at::stack(fresh, 0);
  std::vector<TransformerPsmStream*> completed;
  for (int64_t i = 0; i < n; ++i) {
    TransformerPsmStream& s = *group[i];
    s.inf_slots_.narrow(3, c + s.in_chunk(), 1).copy_(written.narrow(1, i, 1));
    s.chunk_.narrow(1, s.in_chunk(), 1).copy_(z.narrow(0, i, 1));
    s.position_dev_.add_(1);
    ++s.position_;
    if (s.in_chunk() == 0) completed.push_back(&s);  // that token completed its chunk
  }
  complete_chunks_together(completed);
  return logits;
}

int64_t TransformerPsmStream::state_bytes() const {
  // What the stream holds (the buffers are allocated at full capacity once): the counter's chunk
  // states, the visible Inf entries of every layer, and this chunk's encodings.
  const int64_t row = batch_ * m_->o_.n_embd * static_cast<int64_t>(chunk_.element_size());
  const int64_t layers = static_cast<int64_t>(inf_kv_.size());
  return scanner_.stored_bytes() + 2 * layers * inf_cache_entries() * row + in_chunk() * row;
}

std::map<std::string, at::Tensor> TransformerPsmStream::save() const {
  std::map<std::string, at::Tensor> out = scanner_.save("scanner.");
  out["position"] = at::full({1}, position_, at::kLong);
  const int64_t c = m_->o_.chunk_size, n = in_chunk();
  if (n > 0) out["chunk"] = chunk_.slice(1, 0, n).clone();
  // Only the visible entries, in the order a query sees them: prefix slots, then this chunk's.
  std::vector<KvCache> visible(inf_kv_.size());
  for (size_t l = 0; l < inf_kv_.size(); ++l) {
    auto entries = [&](const at::Tensor& buf) {
      std::vector<at::Tensor> parts;
      if (has_prefix()) parts.push_back(buf.slice(2, 0, c));
      parts.push_back(buf.slice(2, c, c + n));
      return at::cat(parts, 2).clone();
    };
    visible[l].written = inf_cache_entries();
    if (visible[l].written > 0) {
      visible[l].k = entries(inf_kv_[l].k);
      visible[l].v = entries(inf_kv_[l].v);
    }
  }
  save_kv_caches(visible, "inf_cache.", out);
  return out;
}

void TransformerPsmStream::restore(const std::map<std::string, at::Tensor>& saved) {
  const std::string what = "transformer_psm stream state";
  const int64_t c = m_->o_.chunk_size, d = m_->o_.n_embd;
  std::map<std::string, at::Tensor> tensors;  // on the model's device (a saved file loads to the CPU)
  for (const auto& kv : saved) tensors[kv.first] = kv.second.to(m_->emb_.token_weight().device());
  const int64_t position = restored_position(
      tensors, what, m_->o_.position_mode == PositionMode::kGlobal ? m_->o_.n_positions : int64_t{-1});
  const at::Tensor& w = m_->emb_.token_weight();

  scan::TensorOnlineScanner scanner(
      [this](const scan::TensorState& a, const scan::TensorState& y) { return stream_agg(a, y); });
  scanner.restore(tensors, "scanner.");
  SCANLAB_CHECK(scanner.count() == position / c, what, ": the scanner holds ", scanner.count(), " chunks but position ",
                position, " with chunk_size ", c, " needs ", position / c);
  size_t used = 1;
  for (const auto& kv : tensors) used += kv.first.rfind("scanner.", 0) == 0 ? 1 : 0;
  if (const auto prefix = scanner.prefix()) {
    const at::Tensor& s = (*prefix)[0];
    SCANLAB_CHECK(
        prefix->size() == 1 && s.sizes() == at::IntArrayRef({batch_, c, d}) && s.scalar_type() == w.scalar_type(), what,
        ": scanner states are ", s.sizes(), " ", s.scalar_type(), "; expected [", batch_, ", ", c, ", ", d, "] ",
        w.scalar_type());
  }

  const int64_t in_chunk = position % c;
  at::Tensor chunk;
  auto ch = tensors.find("chunk");
  if (in_chunk > 0) {
    SCANLAB_CHECK(ch != tensors.end(), what, ": tensor 'chunk' is missing (", in_chunk, " tokens into a chunk)");
    SCANLAB_CHECK(
        ch->second.sizes() == at::IntArrayRef({batch_, in_chunk, d}) && ch->second.scalar_type() == w.scalar_type(),
        what, ": 'chunk' is ", ch->second.sizes(), " ", ch->second.scalar_type(), "; expected [", batch_, ", ",
        in_chunk, ", ", d, "] ", w.scalar_type());
    chunk = ch->second;
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

  // Into the existing buffers (their addresses stay, so would a captured graph's).
  at::NoGradGuard no_grad;
  const int64_t prefix_slots = scanner.count() > 0 ? c : 0;
  for (size_t l = 0; l < cache.size(); ++l) {
    if (prefix_slots > 0) {
      inf_kv_[l].k.slice(2, 0, c).copy_(cache[l].k.slice(2, 0, c));
      inf_kv_[l].v.slice(2, 0, c).copy_(cache[l].v.slice(2, 0, c));
    }
    if (in_chunk > 0) {
      inf_kv_[l].k.slice(2, c, c + in_chunk).copy_(cache[l].k.slice(2, prefix_slots));
      inf_kv_[l].v.slice(2, c, c + in_chunk).copy_(cache[l].v.slice(2, prefix_slots));
    }
  }
  if (in_chunk > 0) chunk_.slice(1, 0, in_chunk).copy_(chunk);
  scanner_ = std::move(scanner);
  position_ = position;
  position_dev_.fill_(position);
  for (CudaGraphCall* g : graphs()) g->reset();
}

}  // namespace scanlab::models
