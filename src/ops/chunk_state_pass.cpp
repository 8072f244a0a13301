#include "ops/chunk_state_pass.h"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include "core/check.h"
#include "ops/op_common.h"

#ifdef SCANLAB_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>

#include "ops/cuda/chunk_state_pass_launch.h"
#include "ops/launch_check.h"
#endif

namespace scanlab::ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// x <- init; for n (from the last when reverse): states[n] = x; x = decay[n] ⊙ x + u[n]; final = x.
// u, states [B, H, NC, K, V]; decay [B, H, NC] or [B, H, NC, K] (factors, not logs); init [B, H, K, V].
struct Pass {
  at::Tensor states, final;
};

template <typename S>
void pass_cpu(const S* u, const S* decay, const S* init, S* states, S* final, int64_t BH, int64_t NC, int64_t K,
              int64_t V, bool per_key, bool reverse) {
  // One task per (b, h, k) row of V elements: rows are independent, and a row's decay is one number.
  at::parallel_for(0, BH * K, 1, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t bh = row / K, k = row % K;
      S* x = final + row * V;
      for (int64_t v = 0; v < V; ++v) x[v] = init[row * V + v];
      for (int64_t i = 0; i < NC; ++i) {
        const int64_t n = bh * NC + (reverse ? NC - 1 - i : i);
        const S a = per_key ? decay[n * K + k] : decay[n];
        const int64_t at = (n * K + k) * V;
        for (int64_t v = 0; v < V; ++v) {
          states[at + v] = x[v];
          x[v] = a * x[v] + u[at + v];
        }
      }
    }
  });
}

// Any device and dtype: NC small torch ops.
Pass pass_torch(const at::Tensor& u, const at::Tensor& decay, const at::Tensor& init, bool reverse) {
  const int64_t NC = u.size(2);
  at::Tensor states = at::empty_like(u);
  at::Tensor a = decay.dim() == 3 ? decay.unsqueeze(-1).unsqueeze(-1) : decay.unsqueeze(-1);  // broadcast over K, V
  at::Tensor x = init.clone();
  for (int64_t i = 0; i < NC; ++i) {
    const int64_t n = reverse ? NC - 1 - i : i;
    states.select(2, n).copy_(x);
    x = a.select(2, n) * x + u.select(2, n);
  }
  return {states, x};
}

Pass run_pass(const at::Tensor& u_in, const at::Tensor& decay_in, const at::Tensor& init_in, bool reverse) {
  const at::Tensor u = u_in.contiguous(), decay = decay_in.contiguous(), init = init_in.contiguous();
  const int64_t B = u.size(0), H = u.size(1), NC = u.size(2), K = u.size(3), V = u.size(4);
  const bool per_key = decay.dim() == 4;
  if (u.is_cpu()) {
    Pass out{at::empty_like(u), at::empty_like(init)};
    AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "chunk_state_pass", [&] {
      pass_cpu<scalar_t>(u.data_ptr<scalar_t>(), decay.data_ptr<scalar_t>(), init.data_ptr<scalar_t>(),
                         out.states.data_ptr<scalar_t>(), out.final.data_ptr<scalar_t>(), B * H, NC, K, V, per_key,
                         reverse);
    });
    return out;
  }
#ifdef SCANLAB_WITH_CUDA
  if (u.is_cuda() && u.scalar_type() == at::kFloat) {
    Pass out{at::empty_like(u), at::empty_like(init)};
    cuda::ChunkStatePassParams p;
    p.batch_heads = B * H;
    p.chunks = static_cast<int>(NC);
    p.dk = static_cast<int>(K);
    p.dv = static_cast<int>(V);
    p.per_key = per_key ? 1 : 0;
    p.reverse = reverse ? 1 : 0;
    p.u = u.data_ptr<float>();
    p.decay = decay.data_ptr<float>();
    p.init = init.data_ptr<float>();
    p.states = out.states.data_ptr<float>();
    p.final_state = out.final.data_ptr<float>();
    check_launch(cuda::launch_chunk_state_pass(p, at::cuda::getCurrentCUDAStream().stream()), "chunk_state_pass");
    return out;
  }
#endif
  return pass_torch(u, decay, init, reverse);
}

class ChunkStatePassFunction : public torch::autograd::Function<ChunkStatePassFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& u, const at::Tensor& log_decay,
                               const at::Tensor& h0) {
    const at::Tensor decay = log_decay.exp();
    Pass out = run_pass(u, decay, h0, /*reverse=*/false);
    ctx->save_for_backward({decay, out.states});
    return {out.states, out.final};
  }

  // With λ_{n+1} = dL/dx_{n+1}: du_n = λ_{n+1}, λ_n = d entering_n + a_n λ_{n+1}, dh0 = λ_0: the
  // forward recurrence from the last chunk with the entering-state gradients as contributions.
  // dL/dλ_n = a_n Σ du_n ⊙ x_n (over V for a per-key decay, over K and V for a per-head one).
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &decay = saved[0], &entering = saved[1];
    const at::Tensor d_entering = grads[0].defined() ? grads[0] : at::zeros_like(entering);
    const at::Tensor d_final =
        grads[1].defined()
            ? grads[1]
            : at::zeros({entering.size(0), entering.size(1), entering.size(3), entering.size(4)}, entering.options());
    Pass back = run_pass(d_entering, decay, d_final, /*reverse=*/true);
    const at::Tensor prod = back.states * entering;
    const at::Tensor d_log_decay = decay * (decay.dim() == 4 ? prod.sum(-1) : prod.sum({-2, -1}));
    return {back.states, d_log_decay, back.final};
  }
};

}  // namespace

ChunkStates chunk_state_pass(const at::Tensor& u, const at::Tensor& log_decay, const at::Tensor& h0) {
  SCANLAB_CHECK(u.defined() && u.dim() == 5, "chunk_state_pass: u must be [B, H, NC, K, V]; got ",
                u.defined() ? u.sizes() : at::IntArrayRef{});
  const int64_t B = u.size(0), H = u.size(1), NC = u.size(2), K = u.size(3), V = u.size(4);
  SCANLAB_CHECK(log_decay.defined() && (log_decay.dim() == 3 || log_decay.dim() == 4),
                "chunk_state_pass: log_decay must be [B, H, NC] or [B, H, NC, K]");
  if (log_decay.dim() == 3)
    check_shape("chunk_state_pass", "log_decay", log_decay, {B, H, NC});
  else
    check_shape("chunk_state_pass", "log_decay", log_decay, {B, H, NC, K});
  SCANLAB_CHECK(at::isFloatingType(u.scalar_type()) && log_decay.scalar_type() == u.scalar_type(),
                "chunk_state_pass: u and log_decay must share one floating dtype; got ", u.scalar_type(), " and ",
                log_decay.scalar_type());
  at::Tensor init = h0.defined() ? h0 : at::zeros({B, H, K, V}, u.options());
  check_shape("chunk_state_pass", "h0", init, {B, H, K, V});
  SCANLAB_CHECK(init.scalar_type() == u.scalar_type(), "chunk_state_pass: h0 has dtype ", init.scalar_type(),
                "; expected ", u.scalar_type(), " like u");
  auto out = ChunkStatePassFunction::apply(u, log_decay, init);
  return {out[0], out[1]};
}

}  // namespace scanlab::ops
