#include "dist/seq_parallel.h"

#include <torch/autograd.h>

#include <string>

#include "core/check.h"

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
    const at::Tensor g = grads[0].defined() ? grads[0].contiguous().clone()
                                            : at::zeros({ex.group->size(), ex.len}, ex.options);
    const at::Tensor summed = ex.reduce(g);
    torch::autograd::variable_list out{at::Tensor(), summed[ex.group->rank()]};
    for (size_t i = 1; i < grads.size(); ++i) out.push_back(grads[i]);
    return out;
  }
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
          auto [gathered, pass] = exchange(flat, {chunks}, "transformer_psm block roots");
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
  SCANLAB_CHECK(t >= 1, "sequence parallel affine scan: rank ", rank(), " holds no tokens; every rank needs at least one");
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
  auto [gathered, pass] = exchange(at::cat(parts), {local.o}, "affine block states");
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

}  // namespace scanlab::dist
