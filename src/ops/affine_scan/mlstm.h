// mLSTM (xLSTM, Beck et al. 2024) as a scalar-gated affine scan with an exponential input gate:
//   C_t = f_t C_{t-1} + i_t k_t v_tᵀ,  n_t = f_t n_{t-1} + i_t k_t,  o_t = C_tᵀ q_t / max(|n_tᵀ q_t|, 1)
// with f_t = exp(log_f_t) (log_f = logsigmoid of the forget pre-activation) and i_t = exp(log_i_t).
// i_t overflows, so the state is stored stabilized: (C̃, ñ) = (C, n)·exp(-m) with the running max
//   m_t = max(log_f_t + m_{t-1}, log_i_t),  and o_t = C̃_tᵀ q_t / max(|ñ_tᵀ q_t|, exp(-m_t)).
// The output does not depend on m (any m gives the same o); every path uses the same m recurrence,
// so their states agree too. Shapes: q, k [B, T, H, K]; v [B, T, H, V]; log_f, log_i [B, T, H];
// state C [B, H, K, V], n [B, H, K], m [B, H] (zeros = empty state).
#pragma once
#include <ATen/ATen.h>

namespace scanlab::ops {

struct MlstmState {
  at::Tensor C, n, m;  // [B, H, K, V], [B, H, K], [B, H]; state dtype (float32 or float64)
};

struct MlstmArgs {
  at::Tensor q, k, v, log_f, log_i;
  MlstmState state0;  // undefined tensors mean the empty state (zeros)
  int64_t chunk_len = 64;
};

struct MlstmOut {
  at::Tensor o;  // [B, T, H, V], dtype of q
  MlstmState state;
};

struct MlstmStepArgs {
  at::Tensor q, k, v, log_f, log_i;  // [B, H, K], [B, H, K], [B, H, V], [B, H], [B, H]
};

void check_mlstm_args(const MlstmArgs& a);
void check_mlstm_step_args(const MlstmStepArgs& a, const MlstmState& state);
MlstmState mlstm_zero_state(int64_t batch, int64_t heads, int64_t dk, int64_t dv, const at::TensorOptions& opts);
// The stabilized `older` state carried through a span of total log forget gate `log_f` [B, H], then
// `newer` (that span's own state from the empty one) added: the chunked path's merge of two states.
MlstmState mlstm_merge_states(const MlstmState& older, const at::Tensor& log_f, const MlstmState& newer);

MlstmOut mlstm_ref(const MlstmArgs& a);
MlstmOut mlstm_chunked(const MlstmArgs& a);
MlstmOut mlstm_blelloch(const MlstmArgs& a);
// Returns o [B, H, V]; `state` becomes the state after the token. mlstm_step routes to the fused
// CUDA kernel (cuda/affine_step.cu) where mlstm_step_cuda_supports() accepts the arguments and no
// gradient is needed, else to the device-generic torch step.
at::Tensor mlstm_step(const MlstmStepArgs& a, MlstmState& state);
at::Tensor mlstm_step_torch(const MlstmStepArgs& a, MlstmState& state);
// float32 CUDA tensors on one device, a contiguous state, K <= 1024, a CUDA build.
bool mlstm_step_cuda_supports(const MlstmStepArgs& a, const MlstmState& state);
// Updates `state` in place; writes o into `out` ([B, H, V] contiguous float32).
void mlstm_step_cuda(const MlstmStepArgs& a, MlstmState& state, at::Tensor& out);

}  // namespace scanlab::ops
