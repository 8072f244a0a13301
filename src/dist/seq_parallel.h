// Sequence parallelism on a Group: one sequence cut into contiguous blocks, rank r holding block r,
// so a sequence longer than one device's memory runs over several (issue 19). Two scans:
//   Transformer-PSM: scan/block_scan.h over the chunks (blocks of B chunks, B a power of two, so the
//     Agg expressions are the single-device ones): local up-sweep, the block roots all-gathered, each
//     rank's carry from the roots before it (the top ⌈log2 P⌉ levels), local down-sweep.
//   affine family: the associative form. Each rank runs its block from the zero state, giving its
//     block's (E_r, f_r) (total decay, final state); the pairs are all-gathered and rank r starts from
//     h_r = f_{r-1} + E_{r-1}▶(... f_0 + E_0▶h0), which it adds to its outputs. The delta rule's E_r is
//     a [K, K] matrix per head (one run with the state [I | 0] gives it and its readout); mLSTM's
//     pairs are stabilized (C̃, ñ, m) states merged as its ops do, and ranks after the first run their
//     block again from the carried state. The short causal convolutions (Mamba, Mamba2) take the
//     last W-1 inputs of the ranks before (a halo, all-gathered the same way).
// Backward: each exchange is an autograd node whose backward all-reduces the gradients of the
// gathered states and keeps this rank's own. Every rank must run that all-reduce once per exchange,
// in the same order: ranks with tokens do it inside backward (the node also passes the rank's own
// outputs through, so every loss reaches it), ranks without tokens in finish_backward(), which
// every rank calls after each backward pass. Gradients of the parameters are then summed over the
// ranks (GradSync with data_parallel_loss: each rank's loss is its tokens' share of the global mean).
// Memory and traffic per rank: docs/distributed.md.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "dist/group.h"
#include "models/affine/affine_lm.h"
#include "models/transformer_psm.h"
#include "ops/affine_scan/affine_scan.h"
#include "ops/affine_scan/mlstm.h"
#include "ops/delta_rule/delta_rule.h"
#include "scan/block_scan.h"

namespace scanlab::dist {

class SeqParallel {
 public:
  explicit SeqParallel(Group& group) : group_(group) {}
  int ranks() const { return group_.size(); }
  int rank() const { return group_.rank(); }

  // Transformer-PSM: the chunks' blocks for a sequence of `tokens` in chunks of `chunk`, and the
  // tokens [first, first + count) this rank holds (count 0 on a rank past the sequence's end).
  scan::BlockLayout chunk_layout(int64_t tokens, int64_t chunk) const;
  std::pair<int64_t, int64_t> token_range(int64_t tokens, int64_t chunk) const;
  // Logits [B, count, V] of this rank's tokens; `local` = tokens[:, first : first + count] of the
  // whole sequence of `total` tokens. Equal to model.forward(all tokens) on those positions, bit for
  // bit where Agg and Inf give each batch row the same bits whatever the batch (tests/dist).
  // A rank without tokens still takes part in the exchange and returns an empty tensor.
  at::Tensor psm_forward(models::TransformerPsm& model, const at::Tensor& local, int64_t total);

  // Affine family: this rank's contiguous slice of the tokens (any split; every rank at least one
  // token), chunked from the zero state or from `a.h0` on rank 0 (other ranks' h0 must be undefined).
  // Returns this slice's outputs and the state after the whole sequence (every rank).
  ops::AffineScanOut affine_scan(const ops::AffineScanArgs& a);

  // Affine-family language models (models::AffineLm, every mixer of models/affine/affine_family.h): the
  // sequence's N = ⌈T/c⌉ chunks of c = chunk_len tokens split evenly, rank r holding the chunks
  // [⌊rN/P⌋, ⌊(r+1)N/P⌋), so each block is chunked as on one device and every rank has tokens when
  // N >= P (checked). The tokens [first, first + count) of rank `r`.
  std::pair<int64_t, int64_t> affine_token_range(int64_t tokens, int64_t chunk, int r) const;
  std::pair<int64_t, int64_t> affine_token_range(int64_t tokens, int64_t chunk) const {
    return affine_token_range(tokens, chunk, rank());
  }
  // Logits [B, count, V] of this rank's tokens, `local` = tokens[:, first : first + count] of a
  // sequence of `total`: model.forward(all tokens) on those positions, to rounding.
  at::Tensor affine_lm_forward(models::AffineLm& model, const at::Tensor& local, int64_t total);
  // The gated delta rule and mLSTM on this rank's slice (no start state; every rank at least one
  // token): outputs on the slice, the state after the whole sequence.
  ops::DeltaRuleOut delta_rule(const ops::DeltaRuleArgs& a);
  ops::MlstmOut mlstm(const ops::MlstmArgs& a);
  // x [B, t, C] this rank's inputs of a causal convolution -> [B, rows + t, C]: the `rows` inputs
  // before them (from the ranks before, whose token counts are `counts`; zeros before the start), then x.
  at::Tensor with_halo(const at::Tensor& x, int64_t rows, const std::vector<int64_t>& counts);

  // After each backward pass, on every rank: the backward all-reduce of each exchange whose node
  // did not run here (no tokens), with zero gradients, newest first.
  void finish_backward();

  struct Exchange;  // one all-gather and its backward

 private:
  // All-gathers `own` ([L], the same L and dtype on every rank) with autograd: returns [P, L] and
  // `pass` unchanged, both through one node whose backward all-reduces the [P, L] gradient.
  std::pair<at::Tensor, std::vector<at::Tensor>> exchange(const at::Tensor& own, const std::vector<at::Tensor>& pass,
                                                          const char* what);

  Group& group_;
  std::vector<std::shared_ptr<Exchange>> pending_;  // exchanges of the current forward/backward
};

}  // namespace scanlab::dist
