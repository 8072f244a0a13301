// Sequence parallelism over loopback Gloo, ranks as threads (dist/seq_parallel.h):
//  - Transformer-PSM, N = 1..67 chunks (odd token counts end in a partial chunk) over P = 2 and 4
//    ranks: each rank's logits equal the single-device forward's on its positions bit for bit in
//    float64, and the parameters' gradients summed over the ranks equal the single-device ones;
//  - the affine scan (identity, scalar and diagonal gates) split over 2 and 3 ranks: outputs, final
//    state and the inputs' gradients equal the single-device chunked scan's;
//  - the bytes each rank hands to the collectives equal docs/distributed.md's formulas.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>

#include <torch/autograd.h>

#include "dist/group.h"
#include "dist/seq_parallel.h"
#include "models/transformer_psm.h"
#include "support/loopback_ranks.h"

namespace scanlab::dist {
namespace {

constexpr int64_t kBatch = 2, kChunk = 2, kDim = 8, kVocab = 11, kMaxChunks = 67;

std::shared_ptr<models::TransformerPsm> tiny_psm() {
  models::TransformerPsmOptions o;
  o.vocab_size = kVocab;
  o.n_positions = kMaxChunks * kChunk;
  o.n_embd = kDim;
  o.n_head = 2;
  o.n_layer_agg = 1;
  o.n_layer_inf = 1;
  o.chunk_size = kChunk;
  o.attn_pdrop = o.resid_pdrop = o.embd_pdrop = 0;
  auto m = std::make_shared<models::TransformerPsm>(o);
  m->to(at::kDouble);
  return m;
}

// Copies of one set of weights: each rank trains its own module, as separate processes would.
std::vector<std::shared_ptr<models::TransformerPsm>> same_models(int n) {
  torch::manual_seed(7);
  std::vector<std::shared_ptr<models::TransformerPsm>> ms;
  for (int i = 0; i < n; ++i) ms.push_back(tiny_psm());
  at::NoGradGuard no_grad;
  for (int i = 1; i < n; ++i) {
    auto src = ms[0]->parameters(), dst = ms[i]->parameters();
    for (size_t k = 0; k < src.size(); ++k) dst[k].copy_(src[k]);
  }
  return ms;
}

// N chunks: T = N·C tokens, one fewer for odd N (a partial last chunk).
int64_t tokens_for(int64_t chunks) { return chunks * kChunk - (chunks % 2); }

double max_abs(const at::Tensor& a) { return a.numel() ? a.abs().max().item<double>() : 0.0; }

TEST(SeqParallelPsm, LogitsBitExactAndGradientsMatchForOneTo67Chunks) {
  if (!have_gloo()) GTEST_SKIP() << "this build has no c10d Gloo";
  const auto full_tokens = at::randint(kVocab, {kBatch, tokens_for(kMaxChunks) + 1}, at::kLong);
  const auto weights = at::randn({kBatch, tokens_for(kMaxChunks) + 1, kVocab}, at::kDouble);
  for (int ranks : {2, 4}) {
    auto models = same_models(ranks + 1);
    auto& single = *models[ranks];
    single.eval();
    // The single-device logits and gradients for every N, computed first.
    std::vector<at::Tensor> want_logits;
    std::vector<std::vector<at::Tensor>> want_grads;
    for (int64_t n = 1; n <= kMaxChunks; ++n) {
      const int64_t t = tokens_for(n);
      single.zero_grad();
      const at::Tensor logits = single.forward(full_tokens.slice(1, 0, t));
      (logits * weights.slice(1, 0, t)).sum().backward();
      want_logits.push_back(logits.detach());
      std::vector<at::Tensor> g;
      for (auto& p : single.parameters()) g.push_back(p.grad().defined() ? p.grad().clone() : at::zeros_like(p));
      want_grads.push_back(g);
    }
    const int port = free_port();
    std::vector<double> worst_grad(ranks, 0.0);
    std::vector<int64_t> inexact(ranks, 0);
    const auto t0 = std::chrono::steady_clock::now();
    run_ranks(ranks, [&](int r) {
      Group group(world(r, port, ranks), at::kCPU, gloo(60));
      SeqParallel sp(group);
      auto& model = *models[r];
      model.eval();
      for (int64_t n = 1; n <= kMaxChunks; ++n) {
        const int64_t t = tokens_for(n);
        const auto [first, count] = sp.token_range(t, kChunk);
        model.zero_grad();
        const at::Tensor logits = sp.psm_forward(model, full_tokens.slice(1, first, first + count), t);
        ASSERT_EQ(logits.size(1), count);
        if (!at::equal(logits, want_logits[n - 1].slice(1, first, first + count))) {
          ++inexact[r];
          ADD_FAILURE() << "P=" << ranks << " N=" << n << " rank " << r << ": logits differ by "
                        << max_abs(logits - want_logits[n - 1].slice(1, first, first + count));
        }
        if (count > 0) (logits * weights.slice(1, first, first + count)).sum().backward();
        sp.finish_backward();
        // The ranks' gradients add up to the whole sequence's (one all-reduce of them all).
        worst_grad[r] = std::max(worst_grad[r], summed_gradient_error(group, model.parameters(), want_grads[n - 1]));
      }
    });
    const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double worst = *std::max_element(worst_grad.begin(), worst_grad.end());
    std::cout << "P=" << ranks << ": N=1..67 logits bit-exact on every rank; gradients max rel. error " << worst << "; "
              << took << " s\n";
    EXPECT_LT(worst, 1e-12) << "P=" << ranks;
  }
}

TEST(SeqParallelPsm, RootsTravelAsDocumented) {
  if (!have_gloo()) GTEST_SKIP() << "this build has no c10d Gloo";
  // docs/distributed.md: one all-gather of one root, B·C·D elements, forward; one all-reduce of P
  // of them backward. N = 16 chunks over 4 ranks, float64.
  constexpr int ranks = 4;
  auto models = same_models(ranks);
  const int64_t t = 16 * kChunk;
  const auto tokens = at::randint(kVocab, {kBatch, t}, at::kLong);
  const int port = free_port();
  run_ranks(ranks, [&](int r) {
    Group group(world(r, port, ranks), at::kCPU, gloo(60));
    SeqParallel sp(group);
    const auto [first, count] = sp.token_range(t, kChunk);
    EXPECT_EQ(count, t / ranks);
    const Group::Traffic before = group.traffic();
    sp.psm_forward(*models[r], tokens.slice(1, first, first + count), t).sum().backward();
    sp.finish_backward();
    const int64_t root_bytes = kBatch * kChunk * kDim * 8;
    EXPECT_EQ(group.traffic().all_gather_bytes - before.all_gather_bytes, root_bytes);
    EXPECT_EQ(group.traffic().all_reduce_bytes - before.all_reduce_bytes, ranks * root_bytes);
    EXPECT_EQ(group.traffic().collectives - before.collectives, 2);
  });
}

struct AffineCase {
  const char* gate;
  int ranks;
};

class SeqParallelAffine : public ::testing::TestWithParam<AffineCase> {};

TEST_P(SeqParallelAffine, OutputsStateAndGradientsMatchTheWholeSequence) {
  if (!have_gloo()) GTEST_SKIP() << "this build has no c10d Gloo";
  const auto [gate, ranks] = GetParam();
  constexpr int64_t B = 2, T = 37, H = 2, K = 4, V = 3;
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  torch::manual_seed(3);
  ops::AffineScanArgs full;
  full.q = at::randn({B, T, H, K}, f64);
  full.k = at::randn({B, T, H, K}, f64);
  full.v = at::randn({B, T, H, V}, f64);
  if (std::string(gate) == "scalar") full.log_a = -at::rand({B, T, H}, f64);
  if (std::string(gate) == "diagonal") full.log_a = -at::rand({B, T, H, K}, f64);
  full.h0 = at::randn({B, H, K, V}, f64);
  full.chunk_len = 4;
  const auto w_o = at::randn({B, T, H, V}, f64), w_h = at::randn({B, H, K, V}, f64);
  // The single-device outputs and gradients.
  std::vector<at::Tensor> inputs{full.q, full.k, full.v};
  if (full.log_a.defined()) inputs.push_back(full.log_a);
  inputs.push_back(full.h0);
  for (auto& x : inputs) x.requires_grad_(true);
  const ops::AffineScanOut want = ops::affine_scan_chunked(full);
  const auto want_grads = torch::autograd::grad({(want.o * w_o).sum() + (want.h_final * w_h).sum()}, inputs);

  const int port = free_port();
  std::vector<double> err(ranks, 0.0);
  run_ranks(ranks, [&](int r) {
    Group group(world(r, port, ranks), at::kCPU, gloo(60));
    SeqParallel sp(group);
    const int64_t lo = T * r / ranks, hi = T * (r + 1) / ranks;  // uneven blocks
    auto slice = [&](const at::Tensor& x) { return x.detach().slice(1, lo, hi).clone().requires_grad_(true); };
    ops::AffineScanArgs a;
    a.q = slice(full.q);
    a.k = slice(full.k);
    a.v = slice(full.v);
    if (full.log_a.defined()) a.log_a = slice(full.log_a);
    if (r == 0) a.h0 = full.h0.detach().clone().requires_grad_(true);
    a.chunk_len = full.chunk_len;
    const ops::AffineScanOut got = sp.affine_scan(a);
    double e = max_abs(got.o - want.o.slice(1, lo, hi)) + max_abs(got.h_final - want.h_final);
    // The final state is every rank's; rank 0 alone puts it in the loss so it counts once.
    at::Tensor loss = (got.o * w_o.slice(1, lo, hi)).sum();
    if (r == 0) loss = loss + (got.h_final * w_h).sum();
    loss.backward();
    sp.finish_backward();
    std::vector<at::Tensor> mine{a.q, a.k, a.v};
    if (a.log_a.defined()) mine.push_back(a.log_a);
    for (size_t i = 0; i < mine.size(); ++i) e += max_abs(mine[i].grad() - want_grads[i].slice(1, lo, hi));
    if (r == 0) e += max_abs(a.h0.grad() - want_grads.back());
    err[r] = e;
  });
  for (int r = 0; r < ranks; ++r) EXPECT_LT(err[r], 1e-12) << gate << " P=" << ranks << " rank " << r;
  std::cout << gate << " P=" << ranks << ": max abs error " << *std::max_element(err.begin(), err.end()) << "\n";
}

INSTANTIATE_TEST_SUITE_P(Gates, SeqParallelAffine,
                         ::testing::Values(AffineCase{"identity", 2}, AffineCase{"scalar", 2},
                                           AffineCase{"diagonal", 2}, AffineCase{"scalar", 3},
                                           AffineCase{"diagonal", 3}));

}  // namespace
}  // namespace scanlab::dist
