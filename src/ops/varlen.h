// Variable-length packed batches for every chunked op (flash-attention / fla's `cu_seqlens` layout):
// S sequences of lengths L_s packed back to back along T, inputs [1, total_T, H, ·] with
// total_T = Σ L_s, and cu_seqlens [S + 1] int64 their offsets (0 = first, non-decreasing, last =
// total_T). Each sequence starts from its own state h0[s] (zeros when h0 is undefined) and returns its
// own final state, so a long prompt can be prefilled in pieces: piece n+1's h0 is piece n's h_final.
// The ops run on a padded batch [S, T_max, H, ·]: padded tokens are the chunked forms' own neutral
// tokens (k = v = q = 0, log decay 0, β = 0, mLSTM log i = -inf), which leave the state exactly as it
// was, so every h_final is the state after the sequence's own last token; their outputs are dropped.
// Gathering and scattering are index_select, so autograd runs through them to the packed inputs and h0.
// Zero-length sequences are allowed (their final state is h0[s]).
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "ops/affine_scan/affine_scan.h"
#include "ops/affine_scan/mlstm.h"
#include "ops/delta_rule/delta_rule.h"

namespace scanlab::ops {

// Where each token of the packed tensor goes in the padded batch, and back.
struct VarlenLayout {
  std::vector<int64_t> lengths;  // L_s
  int64_t total = 0;             // total_T
  int64_t longest = 0;           // T_max
  at::Tensor gather;   // [S * T_max] int64 on the inputs' device: packed row of each padded slot (total = padding)
  at::Tensor scatter;  // [total_T] int64: padded slot (s * T_max + t) of each packed row
  int64_t sequences() const { return static_cast<int64_t>(lengths.size()); }
};

// Checks cu_seqlens (int64, [S + 1] with S >= 1, cu_seqlens[0] = 0, non-decreasing, last = total)
// and throws scanlab::Error "<op>: cu_seqlens ...; expected ..." otherwise. cu_seqlens may live on
// any device (it is read on the host).
VarlenLayout varlen_layout(const std::string& op, const at::Tensor& cu_seqlens, int64_t total,
                           const at::Device& device);
// [1, total_T, ...] -> [S, T_max, ...], padding filled with `fill`; an undefined x stays undefined.
at::Tensor varlen_pad(const at::Tensor& packed, const VarlenLayout& layout, double fill = 0.0);
// [S, T_max, ...] -> [1, total_T, ...]: the inverse of varlen_pad on the real tokens.
at::Tensor varlen_unpad(const at::Tensor& padded, const VarlenLayout& layout);

// q, k [1, total_T, H, K], v [1, total_T, H, V], log_a undefined / [1, total_T, H] / [1, total_T, H, K];
// a.h0 undefined or [S, H, K, V]. Returns o [1, total_T, H, V] and h_final [S, H, K, V] (state dtype),
// through affine_scan_chunked (its CUDA kernels where they take the padded batch).
AffineScanOut affine_scan_varlen(const AffineScanArgs& a, const at::Tensor& cu_seqlens);
// log_f, log_i [1, total_T, H]; a.state0 undefined or C [S, H, K, V], n [S, H, K], m [S, H].
MlstmOut mlstm_varlen(const MlstmArgs& a, const at::Tensor& cu_seqlens);
// beta, log_a [1, total_T, H] (log_a undefined: DeltaNet); a.h0 undefined or [S, H, K, V].
DeltaRuleOut delta_rule_varlen(const DeltaRuleArgs& a, const at::Tensor& cu_seqlens);

}  // namespace scanlab::ops
