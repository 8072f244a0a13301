// Sequence parallelism of the affine-family language models over loopback Gloo, ranks as threads
// (dist/seq_parallel.h, SeqParallel::affine_lm_forward): every model of models/affine/affine_family.h, in
// float64 without dropout, one sequence of T tokens in chunks of c over P ranks (T = 37, c = 4:
// ten chunks split 5/5, 3/3/4 and 2/3/2/3, the last chunk partial; T = 9, c = 2 over 4 ranks: blocks
// of 2, 2, 2 and 3 tokens, so a short convolution's 3-token halo spans two ranks). Each rank's logits
// equal the single-process forward's on its positions, and the parameters' gradients summed over
// the ranks equal the single-process ones, both to 1e-12 relative; the bytes each rank hands to the
// collectives equal docs/distributed.md's per-layer formulas.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <ostream>
#include <string>

#include "dist/group.h"
#include "dist/seq_parallel.h"
#include "models/affine/affine_family.h"
#include "models/affine/affine_lm.h"
#include "models/registry.h"
#include "support/loopback_ranks.h"

namespace scanlab::dist {
namespace {

constexpr int64_t kBatch = 2;

double max_abs(const at::Tensor& a) { return a.numel() ? a.abs().max().item<double>() : 0.0; }

// Copies of one set of weights in float64: each rank trains its own module, as processes would.
std::vector<std::shared_ptr<models::AffineLm>> same_models(const std::string& name, int64_t chunk, int n) {
  nlohmann::json cfg = models::find_model(name).small_config();
  cfg["chunk_len"] = chunk;
  cfg["dropout"] = 0.0;
  torch::manual_seed(11);
  std::vector<std::shared_ptr<models::AffineLm>> ms;
  for (int i = 0; i < n; ++i) {
    auto m = std::dynamic_pointer_cast<models::AffineLm>(models::make_model(cfg));
    EXPECT_TRUE(m != nullptr) << name << " is not an AffineLm";
    m->to(at::kDouble);
    ms.push_back(m);
  }
  at::NoGradGuard no_grad;
  for (int i = 1; i < n; ++i) {
    auto src = ms[0]->parameters(), dst = ms[i]->parameters();
    for (size_t k = 0; k < src.size(); ++k) dst[k].copy_(src[k]);
  }
  return ms;
}

// docs/distributed.md, "Memory and communication per rank": the elements one rank hands to the
// forward all-gathers of one layer, per batch row, and how many exchanges a layer makes.
struct LayerTraffic {
  int64_t elements, exchanges;
};
LayerTraffic documented(const nlohmann::json& c) {
  const std::string kind = c.at("model");
  const int64_t d = c.at("d_model");
  if (kind == "mamba" || kind == "mamba2") {
    const int64_t e = c.at("expand").get<int64_t>() * d, n = c.at("d_state"), w = c.at("d_conv");
    if (kind == "mamba") return {(w - 1) * e + e * (n + n), 2};  // halo; diagonal gate, H = E, K = N, V = 1
    const int64_t h = c.at("n_heads");
    return {(w - 1) * (e + 2 * n) + h * (n * (e / h) + 1), 2};  // halo over x, B, C; scalar gate, K = N, V = E/H
  }
  const int64_t h = c.at("n_heads"), k = d / h, v = d / h;
  if (kind == "linear_attention") return {h * k * v, 1};
  if (kind == "retnet") return {h * (k * v + 1), 1};
  if (kind == "gla") return {h * (k * v + k), 1};
  if (kind == "mlstm") return {h * (k * v + k + 2), 1};  // C̃, ñ, m and the block's log forget gate
  if (kind == "gated_deltanet") return {h * (k * k + k * v), 1};
  ADD_FAILURE() << "no documented traffic for " << kind;
  return {0, 0};
}

struct LmCase {
  std::string model;
  int ranks;
  int64_t tokens, chunk;
};

void PrintTo(const LmCase& c, std::ostream* os) {
  *os << c.model << " over " << c.ranks << " ranks, T = " << c.tokens << ", chunk_len " << c.chunk;
}

std::string case_name(const ::testing::TestParamInfo<LmCase>& info) {
  return info.param.model + "_P" + std::to_string(info.param.ranks) + "_T" + std::to_string(info.param.tokens);
}

class SeqParallelAffineLm : public ::testing::TestWithParam<LmCase> {};

TEST_P(SeqParallelAffineLm, LogitsGradientsAndTrafficMatchOneProcess) {
  if (!have_gloo()) GTEST_SKIP() << "this build has no c10d Gloo";
  const LmCase c = GetParam();
  const int ranks = c.ranks;
  auto models = same_models(c.model, c.chunk, ranks + 1);
  auto& single = *models[ranks];
  const int64_t vocab = single.vocab_size();
  torch::manual_seed(5);
  const auto tokens = at::randint(vocab, {kBatch, c.tokens}, at::kLong);
  const auto weights = at::randn({kBatch, c.tokens, vocab}, at::kDouble);
  const at::Tensor want = single.forward(tokens);
  (want * weights).sum().backward();
  std::vector<at::Tensor> want_grads;
  for (auto& p : single.parameters()) want_grads.push_back(p.grad().defined() ? p.grad().clone() : at::zeros_like(p));
  const LayerTraffic per_layer = documented(single.config());
  const int64_t layers = single.options().n_layers;

  const int port = free_port();
  std::vector<double> logit_err(ranks, 0.0), grad_err(ranks, 0.0);
  std::vector<int64_t> counts(ranks, 0);
  const auto t0 = std::chrono::steady_clock::now();
  run_ranks(ranks, [&](int r) {
    Group group(world(r, port, ranks), at::kCPU, gloo(60));
    SeqParallel sp(group);
    auto& model = *models[r];
    const auto [first, count] = sp.affine_token_range(c.tokens, c.chunk);
    counts[r] = count;
    const Group::Traffic before = group.traffic();
    const at::Tensor logits = sp.affine_lm_forward(model, tokens.slice(1, first, first + count), c.tokens);
    const at::Tensor expected = want.detach().slice(1, first, first + count);
    ASSERT_EQ(logits.sizes(), expected.sizes());
    logit_err[r] = max_abs(logits - expected) / std::max(1.0, max_abs(expected));
    (logits * weights.slice(1, first, first + count)).sum().backward();
    sp.finish_backward();
    const Group::Traffic after = group.traffic();
    const int64_t gathered = kBatch * layers * per_layer.elements * 8;
    EXPECT_EQ(after.all_gather_bytes - before.all_gather_bytes, gathered) << "rank " << r;
    EXPECT_EQ(after.all_reduce_bytes - before.all_reduce_bytes, ranks * gathered) << "rank " << r;
    EXPECT_EQ(after.collectives - before.collectives, 2 * layers * per_layer.exchanges) << "rank " << r;
    // The ranks' gradients add up to the whole sequence's.
    grad_err[r] = summed_gradient_error(group, model.parameters(), want_grads);
  });
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  int64_t covered = 0;
  for (int r = 0; r < ranks; ++r) {
    EXPECT_GE(counts[r], 1) << "rank " << r;
    covered += counts[r];
    EXPECT_LT(logit_err[r], 1e-12) << c.model << " P=" << ranks << " rank " << r;
    EXPECT_LT(grad_err[r], 1e-12) << c.model << " P=" << ranks << " rank " << r;
  }
  EXPECT_EQ(covered, c.tokens);
  std::cout << c.model << " P=" << ranks << " T=" << c.tokens << " c=" << c.chunk << ": logits max rel. error "
            << *std::max_element(logit_err.begin(), logit_err.end()) << ", gradients "
            << *std::max_element(grad_err.begin(), grad_err.end()) << "; " << took << " s\n";
}

std::vector<LmCase> cases() {
  std::vector<LmCase> out;
  for (const std::string& m : models::affine_model_names()) {
    for (int p : {2, 3, 4}) out.push_back({m, p, 37, 4});
    out.push_back({m, 4, 9, 2});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Models, SeqParallelAffineLm, ::testing::ValuesIn(cases()), case_name);

}  // namespace
}  // namespace scanlab::dist
