#include "dist/seq_parallel.h"

#include <torch/autograd.h>

#include <algorithm>
#include <string>

#include "core/check.h"
#include "models/sequence_split.h"

namespace scanlab::dist {

// One exchange: what its backward all-reduce needs, and whether this rank has run it.
struct SeqParallel::Exchange {
  Group* group = nullptr;
  std::string what;
  int64_t len = 0;
  at::TensorOptions options;
  bool reduced = false;

  // Sums the ranks' gradients of the gathered states (every rank runs this once per exchange).
  at::Tensor reduce(at::Tensor grad) {
    reduced = true;
    group->wait(group->all_reduce_sum_async(grad, what + " (backward)"));
    return grad;
  }
};

namespace {

// Carries the exchange into the autograd context (saved_data holds IValues; a capsule holds any
// intrusive_ptr_target).
struct ExchangeHolder : torch::CustomClassHolder {
  explicit ExchangeHolder(std::shared_ptr<SeqParallel::Exchange> e) : ex(std::move(e)) {}
  std::shared_ptr<SeqParallel::Exchange> ex;
};

// forward: [P, L] gathered states, then `pass` unchanged. backward: the [P, L] gradient summed over
// the ranks, this rank's row to `own`; `pass` gradients through.
class ExchangeFn : public torch::autograd::Function<ExchangeFn> {
 public:
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                std::shared_ptr<SeqParallel::Exchange> ex, const at::Tensor& own,
                                                at::TensorList pass) {
    ctx->saved_data["ex"] = at::IValue::make_capsule(c10::make_intrusive<ExchangeHolder>(ex));
    torch::autograd::variable_list out{ex->group->all_gather(own.detach(), ex->what)};
    for (const auto& t : pass) out.push_back(t);
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto holder = c10::static_intrusive_pointer_cast<ExchangeHolder>(ctx->saved_data["ex"].toCapsule());
    SeqParallel::Exchange& ex = *holder->ex;
    const at::Tensor g =
        grads[0].defined() ? grads[0].contiguous().clone() : at::zeros({ex.group->size(), ex.len}, ex.options);
    const at::Tensor summed = ex.reduce(g);
    torch::autograd::variable_list out{at::Tensor(), summed[ex.group->rank()]};
    for (size_t i = 1; i < grads.size(); ++i) out.push_back(grads[i]);
    return out;
  }
};

// AffineLm's mixers on one rank's block: the ops and the convolutions' halos through SeqParallel.
class LmSplit : public models::SequenceSplit {
 public:
  LmSplit(SeqParallel& sp, std::vector<int64_t> counts) : sp_(sp), counts_(std::move(counts)) {}
  ops::AffineScanOut affine_scan(const ops::AffineScanArgs& a) override { return sp_.affine_scan(a); }
  ops::DeltaRuleOut delta_rule(const ops::DeltaRuleArgs& a) override { return sp_.delta_rule(a); }
  ops::MlstmOut mlstm(const ops::MlstmArgs& a) override { return sp_.mlstm(a); }
  at::Tensor with_halo(const at::Tensor& x, int64_t rows) override { return sp_.with_halo(x, rows, counts_); }

 private:
  SeqParallel& sp_;
  std::vector<int64_t> counts_;
};

}  // namespace

std::pair<at::Tensor, std::vector<at::Tensor>> SeqParallel::exchange(const at::Tensor& own,
                                                                     const std::vector<at::Tensor>& pass,
                                                                     const char* what) {
  SCANLAB_ASSERT(own.dim() == 1);
  auto ex = std::make_shared<Exchange>();
  ex->group = &group_;
  ex->what = what;
  ex->len = own.numel();
  ex->options = own.options().requires_grad(false);
  // Only a forward that builds a graph gets a backward; grad mode is the same on every rank.
  if (at::GradMode::is_enabled()) pending_.push_back(ex);
  // As a TensorList, so that autograd counts each tensor as an input (a std::vector would be one opaque argument).
  auto out = ExchangeFn::apply(ex, own, at::TensorList(pass));
  at::Tensor gathered = out[0];
  return {gathered, std::vector<at::Tensor>(out.begin() + 1, out.end())};
}

void SeqParallel::finish_backward() {
  for (auto it = pending_.rbegin(); it != pending_.rend(); ++it)
    if (!(*it)->reduced) (*it)->reduce(at::zeros({group_.size(), (*it)->len}, (*it)->options));
  pending_.clear();
}

scan::BlockLayout SeqParallel::chunk_layout(int64_t tokens, int64_t chunk) const {
  return scan::block_layout((tokens + chunk - 1) / chunk, ranks());
}

std::pair<int64_t, int64_t> SeqParallel::token_range(int64_t tokens, int64_t chunk) const {
  const scan::BlockLayout l = chunk_layout(tokens, chunk);
  const int64_t first = std::min(l.first(rank()) * chunk, tokens);
  return {first, std::min((l.first(rank()) + l.count(rank())) * chunk, tokens) - first};
}

at::Tensor SeqParallel::psm_forward(models::TransformerPsm& model, const at::Tensor& local, int64_t total) {
  const auto& o = model.options();
  const int64_t c = o.chunk_size, b = local.size(0), r = rank();
  const scan::BlockLayout layout = chunk_layout(total, c);
  const auto [first, count] = token_range(total, c);
  SCANLAB_CHECK(local.dim() == 2 && local.size(1) == count, "sequence parallel: rank ", r, " holds tokens [", first,
                ", ", first + count, ") of ", total, "; got a [", local.sizes(), "] token block");
  // Every rank sends a root of this shape; ranks whose root nobody needs send zeros.
  const at::TensorOptions opts = model.parameters().front().options().requires_grad(false);
  const int64_t root_len = b * c * o.n_embd;
  if (count == 0) {
    exchange(at::zeros({root_len}, opts), {}, "transformer_psm block roots");
    return at::empty({b, 0, o.vocab_size}, opts);
  }
  return model.forward_block(
      local, layout.first(r), [&](const at::Tensor& chunks, const scan::BatchedAgg<scan::TensorState>& agg) {
        std::vector<scan::TensorState> xs;
        for (int64_t i = 0; i < chunks.size(1); ++i) xs.push_back({chunks.select(1, i)});
        at::Tensor passed;
        const scan::RootExchange<scan::TensorState> roots_before = [&](const scan::Prefix<scan::TensorState>& own) {
          const at::Tensor flat = own ? (*own)[0].reshape({-1}) : at::zeros({root_len}, opts);
          auto exchanged = exchange(flat, {chunks}, "transformer_psm block roots");
          const at::Tensor& gathered = exchanged.first;
          const std::vector<at::Tensor>& pass = exchanged.second;
          passed = pass[0];
          std::vector<scan::TensorState> roots;
          for (int64_t k = 0; k < r; ++k) roots.push_back({gathered[k].view({b, c, o.n_embd})});
          return roots;
        };
        auto prefixes = scan::block_exclusive_scan(layout, r, xs, roots_before, agg);
        return models::TransformerPsm::BlockScanResult{passed, std::move(prefixes)};
      });
}

ops::AffineScanOut SeqParallel::affine_scan(const ops::AffineScanArgs& a) {
  ops::check_affine_scan_args(a);
  SCANLAB_CHECK(rank() == 0 || !a.h0.defined(), "sequence parallel affine scan: only rank 0 (the sequence's start) ",
                "may pass h0; rank ", rank(), " did");
  const int64_t t = a.q.size(1);
  SCANLAB_CHECK(t >= 1, "sequence parallel affine scan: rank ", rank(),
                " holds no tokens; every rank needs at least one");
  const ops::GateKind gate = ops::gate_kind(a.log_a, 3);
  // 1. this block from its own start state: local outputs, f_r (state after the block)
  const ops::AffineScanOut local = ops::affine_scan_chunked(a);
  const at::Tensor& f = local.h_final;  // [B, H, K, V], state dtype
  const auto sdt = f.scalar_type();
  // log of the block's total decay E_r: [B, H] (scalar gate) or [B, H, K] (diagonal); none for identity
  const at::Tensor cum_log = gate == ops::GateKind::Identity ? at::Tensor() : a.log_a.to(sdt).cumsum(1);
  const at::Tensor log_e = gate == ops::GateKind::Identity ? at::Tensor() : cum_log.select(1, t - 1);
  // 2. (E_r, f_r) of every rank, one all-gather; the outputs pass through the same node
  std::vector<at::Tensor> parts{f.reshape({-1})};
  if (log_e.defined()) parts.push_back(log_e.reshape({-1}));
  auto exchanged = exchange(at::cat(parts), {local.o}, "affine block states");
  const at::Tensor& gathered = exchanged.first;
  const std::vector<at::Tensor>& pass = exchanged.second;
  const int64_t f_len = f.numel();
  auto f_of = [&](int64_t k) { return gathered[k].slice(0, 0, f_len).view(f.sizes()); };
  auto decay = [&](int64_t k, const at::Tensor& h) {  // E_k ▶ h
    if (!log_e.defined()) return h;
    const at::Tensor e = gathered[k].slice(0, f_len).view(log_e.sizes()).exp();
    return h * (gate == ops::GateKind::Scalar ? e.unsqueeze(-1).unsqueeze(-1) : e.unsqueeze(-1));
  };
  // 3. h_r = state after blocks 0..r-1 (rank 0's h0 is inside f_0), folded left in rank order
  at::Tensor h_in;
  for (int64_t k = 0; k < rank(); ++k) h_in = h_in.defined() ? decay(k, h_in) + f_of(k) : f_of(k);
  at::Tensor h_final = h_in;
  for (int64_t k = rank(); k < ranks(); ++k) h_final = h_final.defined() ? decay(k, h_final) + f_of(k) : f_of(k);
  at::Tensor o = pass[0];
  if (h_in.defined()) {
    // o_t += (cumulative decay_t ▶ h_r)ᵀ q_t: the part of h_t that came from before the block
    const at::Tensor q = a.q.to(sdt);  // [B, t, H, K]
    at::Tensor extra;
    if (gate == ops::GateKind::Diagonal)
      extra = at::einsum("bthk,bhkv->bthv", {q * cum_log.exp(), h_in});
    else if (gate == ops::GateKind::Scalar)
      extra = at::einsum("bthk,bhkv->bthv", {q, h_in}) * cum_log.exp().unsqueeze(-1);
    else
      extra = at::einsum("bthk,bhkv->bthv", {q, h_in});
    o = o + extra.to(o.scalar_type());
  }
  return {o, h_final};
}

std::pair<int64_t, int64_t> SeqParallel::affine_token_range(int64_t tokens, int64_t chunk, int r) const {
  SCANLAB_CHECK(chunk >= 1, "sequence parallel: chunk_len must be >= 1, got ", chunk);
  const int64_t n = (tokens + chunk - 1) / chunk, p = ranks();
  SCANLAB_CHECK(n >= p, "sequence parallel over ", p, " ranks: sequences of ", tokens, " tokens are ", n, " chunks of ",
                chunk, "; every rank needs at least one chunk (use fewer ranks or a shorter chunk_len)");
  const int64_t first = std::min(n * r / p * chunk, tokens), end = std::min(n * (r + 1) / p * chunk, tokens);
  return {first, end - first};
}

at::Tensor SeqParallel::affine_lm_forward(models::AffineLm& model, const at::Tensor& local, int64_t total) {
  const int64_t chunk = model.options().chunk_len;
  std::vector<int64_t> counts;
  for (int k = 0; k < ranks(); ++k) counts.push_back(affine_token_range(total, chunk, k).second);
  const auto [first, count] = affine_token_range(total, chunk);
  SCANLAB_CHECK(local.dim() == 2 && local.size(1) == count, "sequence parallel: rank ", rank(), " holds tokens [",
                first, ", ", first + count, ") of ", total, "; got a [", local.sizes(), "] token block");
  LmSplit split(*this, std::move(counts));
  return model.forward_split(local, split);
}

ops::DeltaRuleOut SeqParallel::delta_rule(const ops::DeltaRuleArgs& a) {
  ops::check_delta_rule_args(a);
  SCANLAB_CHECK(!a.h0.defined(), "sequence parallel delta rule: the sequence starts from the zero state; got h0");
  const int64_t B = a.q.size(0), t = a.q.size(1), H = a.q.size(2), K = a.q.size(3), V = a.v.size(3);
  SCANLAB_CHECK(t >= 1, "sequence parallel delta rule: rank ", rank(),
                " holds no tokens; every rank needs at least one");
  const at::TensorOptions sopts = a.q.options().dtype(ops::state_dtype(a.q.scalar_type()));
  // 1. this block from the zero state: outputs and f_r. Ranks after the first also need the block's
  // transition M_r (h_out = M_r h_in + f_r, a [K, K] matrix per head) and M_{<=t}ᵀ q_t, the readout of
  // the carried state: one run with values [0 | v] from the state [I | 0] gives h = [M_{<=t} | local_t].
  at::Tensor o_local, readout, f, m;
  if (rank() == 0) {
    const ops::DeltaRuleOut out = ops::delta_rule_chunked(a);
    o_local = out.o;
    f = out.h_final;
    m = at::zeros({B, H, K, K}, f.options());
  } else {
    ops::DeltaRuleArgs aug = a;
    aug.v = at::cat({at::zeros({B, t, H, K}, a.v.options()), a.v}, -1);
    aug.h0 = at::cat({at::eye(K, sopts).expand({B, H, K, K}), at::zeros({B, H, K, V}, sopts)}, -1);
    const ops::DeltaRuleOut out = ops::delta_rule_chunked(aug);
    readout = out.o.narrow(-1, 0, K);
    o_local = out.o.narrow(-1, K, V);
    m = out.h_final.narrow(-1, 0, K);
    f = out.h_final.narrow(-1, K, V);
  }
  // 2. (M_r, f_r) of every rank, one all-gather
  auto exchanged = exchange(at::cat({m.reshape({-1}), f.reshape({-1})}), {o_local}, "delta rule block states");
  const at::Tensor& gathered = exchanged.first;
  const std::vector<at::Tensor>& pass = exchanged.second;
  const int64_t m_len = m.numel();
  auto m_of = [&](int64_t k) { return gathered[k].slice(0, 0, m_len).view(m.sizes()); };
  auto f_of = [&](int64_t k) { return gathered[k].slice(0, m_len).view(f.sizes()); };
  // 3. h_r = f_{r-1} + M_{r-1}(... + M_1 f_0), folded left in rank order
  at::Tensor h_in;
  for (int64_t k = 0; k < rank(); ++k) h_in = h_in.defined() ? at::matmul(m_of(k), h_in) + f_of(k) : f_of(k);
  at::Tensor h_final = h_in;
  for (int64_t k = rank(); k < ranks(); ++k)
    h_final = h_final.defined() ? at::matmul(m_of(k), h_final) + f_of(k) : f_of(k);
  at::Tensor o = pass[0];
  if (h_in.defined())  // o_t += (M_{<=t} h_r)ᵀ q_t = h_rᵀ (M_{<=t}ᵀ q_t)
    o = o + at::einsum("bthk,bhkv->bthv", {readout.to(h_in.scalar_type()), h_in}).to(o.scalar_type());
  return {o, h_final};
}

ops::MlstmOut SeqParallel::mlstm(const ops::MlstmArgs& a) {
  ops::check_mlstm_args(a);
  SCANLAB_CHECK(!a.state0.C.defined(),
                "sequence parallel mLSTM: the sequence starts from the empty state; got a state");
  SCANLAB_CHECK(a.q.size(1) >= 1, "sequence parallel mLSTM: rank ", rank(),
                " holds no tokens; every rank needs at least one");
  // 1. this block from the empty state: its stabilized (C̃, ñ, m) and total log forget gate F
  const ops::MlstmOut local = ops::mlstm_chunked(a);
  const ops::MlstmState& s = local.state;
  const at::Tensor log_f = a.log_f.to(s.C.scalar_type()).sum(1);  // [B, H]
  // 2. every rank's, one all-gather
  auto exchanged = exchange(at::cat({s.C.reshape({-1}), s.n.reshape({-1}), s.m.reshape({-1}), log_f.reshape({-1})}),
                            {local.o}, "mlstm block states");
  const at::Tensor& gathered = exchanged.first;
  const std::vector<at::Tensor>& pass = exchanged.second;
  const int64_t lc = s.C.numel(), ln = s.n.numel(), lm = s.m.numel();
  auto state_of = [&](int64_t k) {
    const at::Tensor g = gathered[k];
    return ops::MlstmState{g.slice(0, 0, lc).view(s.C.sizes()), g.slice(0, lc, lc + ln).view(s.n.sizes()),
                           g.slice(0, lc + ln, lc + ln + lm).view(s.m.sizes())};
  };
  auto log_f_of = [&](int64_t k) { return gathered[k].slice(0, lc + ln + lm).view(log_f.sizes()); };
  // 3. the state entering this block, folded left in rank order; then the rest for the final state
  ops::MlstmState in;
  for (int64_t k = 0; k < rank(); ++k)
    in = in.C.defined() ? ops::mlstm_merge_states(in, log_f_of(k), state_of(k)) : state_of(k);
  ops::MlstmState final_state = in;
  for (int64_t k = rank(); k < ranks(); ++k)
    final_state =
        final_state.C.defined() ? ops::mlstm_merge_states(final_state, log_f_of(k), state_of(k)) : state_of(k);
  if (!in.C.defined()) return {pass[0], final_state};
  // 4. the normalizer max(|nᵀq|, 1) does not split into per-block parts: run the block again from `in`
  ops::MlstmArgs from_in = a;
  from_in.state0 = in;
  return {ops::mlstm_chunked(from_in).o, final_state};
}

at::Tensor SeqParallel::with_halo(const at::Tensor& x, int64_t rows, const std::vector<int64_t>& counts) {
  SCANLAB_ASSERT(x.dim() == 3 && static_cast<int>(counts.size()) == ranks() && counts[rank()] == x.size(1));
  if (rows == 0) return x;
  const int64_t B = x.size(0), t = x.size(1), C = x.size(2);
  // Every rank sends its last `rows` inputs (zeros in front where it has fewer).
  const int64_t have = std::min(rows, t);
  const at::Tensor own = at::cat({at::zeros({B, rows - have, C}, x.options()), x.narrow(1, t - have, have)}, 1);
  auto exchanged = exchange(own.reshape({-1}), {x}, "causal conv halo");
  const at::Tensor& gathered = exchanged.first;
  const std::vector<at::Tensor>& pass = exchanged.second;
  // The inputs of the ranks before, the nearest last: zeros (the sequence's start), then each rank's valid rows.
  std::vector<at::Tensor> before{at::zeros({B, rows, C}, x.options())};
  for (int64_t k = 0; k < rank(); ++k) {
    const int64_t n = std::min(rows, counts[k]);
    before.push_back(gathered[k].view({B, rows, C}).narrow(1, rows - n, n));
  }
  const at::Tensor all = at::cat(before, 1);
  return at::cat({all.narrow(1, all.size(1) - rows, rows), pass[0]}, 1);
}

}  // namespace scanlab::dist
