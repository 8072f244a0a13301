#include "ops/affine_scan/diagonal_scan.h"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <vector>

#include "core/check.h"
#include "ops/op_common.h"

#ifdef SCANLAB_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>

#include "ops/affine_scan/cuda/launch.h"
#include "ops/launch_check.h"
#endif

namespace scanlab::ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

constexpr int64_t kStride = kDiagonalScanCheckpointStride;

struct Dims {
  int64_t B, T, H, K;
};

Dims dims_of(const at::Tensor& q) { return {q.size(0), q.size(1), q.size(2), q.size(3)}; }

// CPU: one (b, h) lane group per task; the K states of a group stay in a small local array.
template <typename S>
void forward_cpu(const Dims& d, const S* q, const S* k, const S* v, const S* la, const S* h0, S* o, S* h_final, S* ck) {
  const int64_t segments = (d.T + kStride - 1) / kStride;
  at::parallel_for(0, d.B * d.H, 1, [&](int64_t begin, int64_t end) {
    std::vector<S> s(d.K);
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / d.H, h = bh % d.H;
      for (int64_t i = 0; i < d.K; ++i) s[i] = h0 ? h0[bh * d.K + i] : S(0);
      for (int64_t t = 0; t < d.T; ++t) {
        if (t % kStride == 0) std::copy(s.begin(), s.end(), ck + ((b * segments + t / kStride) * d.H + h) * d.K);
        const int64_t row = (b * d.T + t) * d.H + h;
        const S* qa = q + row * d.K;
        const S* ka = k + row * d.K;
        const S* laa = la + row * d.K;
        S acc = 0;
        for (int64_t i = 0; i < d.K; ++i) {
          s[i] = std::exp(laa[i]) * s[i] + ka[i] * v[row];
          acc += qa[i] * s[i];
        }
        o[row] = acc;
      }
      std::copy(s.begin(), s.end(), h_final + bh * d.K);
    }
  });
}

template <typename S>
void backward_cpu(const Dims& d, const S* q, const S* k, const S* v, const S* la, const S* ck, const S* d_o,
                  const S* d_hT, S* dq, S* dk, S* dv, S* dla, S* dh0) {
  const int64_t segments = (d.T + kStride - 1) / kStride;
  at::parallel_for(0, d.B * d.H, 1, [&](int64_t begin, int64_t end) {
    std::vector<S> dh(d.K), states((kStride + 1) * d.K);  // states[j]: after token t0 + j - 1
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / d.H, h = bh % d.H;
      for (int64_t i = 0; i < d.K; ++i) dh[i] = d_hT ? d_hT[bh * d.K + i] : S(0);
      for (int64_t seg = segments - 1; seg >= 0; --seg) {
        const int64_t t0 = seg * kStride, t1 = std::min(d.T, t0 + kStride);
        std::copy_n(ck + ((b * segments + seg) * d.H + h) * d.K, d.K, states.begin());
        for (int64_t t = t0; t < t1; ++t) {
          const int64_t row = (b * d.T + t) * d.H + h;
          const S* prev = &states[(t - t0) * d.K];
          S* next = &states[(t - t0 + 1) * d.K];
          for (int64_t i = 0; i < d.K; ++i) next[i] = std::exp(la[row * d.K + i]) * prev[i] + k[row * d.K + i] * v[row];
        }
        for (int64_t t = t1 - 1; t >= t0; --t) {
          const int64_t row = (b * d.T + t) * d.H + h;
          const S d_out = d_o ? d_o[row] : S(0);
          const S* now = &states[(t - t0 + 1) * d.K];
          const S* prev = &states[(t - t0) * d.K];
          S dv_acc = 0;
          for (int64_t i = 0; i < d.K; ++i) {
            const int64_t at = row * d.K + i;
            dh[i] += q[at] * d_out;  // d h_t: from the future and from o_t
            const S a = std::exp(la[at]);
            dq[at] = now[i] * d_out;
            dk[at] = dh[i] * v[row];
            dla[at] = dh[i] * a * prev[i];
            dv_acc += dh[i] * k[at];
            dh[i] *= a;  // d h_{t-1}
          }
          dv[row] = dv_acc;
        }
      }
      std::copy(dh.begin(), dh.end(), dh0 + bh * d.K);
    }
  });
}

#ifdef SCANLAB_WITH_CUDA
// The sizes and the tensors both passes read: inputs and the state checkpoints.
cuda::DiagonalScanParams cuda_params(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                     const at::Tensor& log_a, const at::Tensor& ck) {
  const Dims d = dims_of(q);
  cuda::DiagonalScanParams p;
  p.batch = static_cast<int>(d.B);
  p.steps = static_cast<int>(d.T);
  p.heads = static_cast<int>(d.H);
  p.dk = static_cast<int>(d.K);
  p.stride = static_cast<int>(kStride);
  p.q = q.data_ptr<float>();
  p.k = k.data_ptr<float>();
  p.v = v.data_ptr<float>();
  p.log_a = log_a.data_ptr<float>();
  p.checkpoints = ck.data_ptr<float>();
  return p;
}
#endif

template <typename S>
const S* ptr_or_null(const at::Tensor& t) {
  return t.defined() ? t.data_ptr<S>() : nullptr;
}

// Inputs arrive contiguous in the state dtype: q, k, log_a [B, T, H, K], v [B, T, H], h0 [B, H, K]. Outputs: o [B, T,
// H], h_final [B, H, K].
class DiagonalScanFunction : public torch::autograd::Function<DiagonalScanFunction> {
 public:
  static variable_list forward(AutogradContext* ctx, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                               const at::Tensor& log_a, const at::Tensor& h0) {
    const Dims d = dims_of(q);
    const int64_t segments = (d.T + kStride - 1) / kStride;
    at::Tensor o = at::empty({d.B, d.T, d.H}, q.options());
    at::Tensor h_final = at::empty({d.B, d.H, d.K}, q.options());
    at::Tensor ck = at::empty({d.B, segments, d.H, d.K}, q.options());
    if (q.is_cuda()) {
#ifdef SCANLAB_WITH_CUDA
      auto p = cuda_params(q, k, v, log_a, ck);
      p.h0 = h0.data_ptr<float>();
      p.o = o.data_ptr<float>();
      p.h_final = h_final.data_ptr<float>();
      check_launch(cuda::launch_diagonal_scan_forward(p, at::cuda::getCurrentCUDAStream().stream()),
                   "diagonal scan forward");
#endif
    } else {
      AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "diagonal_scan_forward", [&] {
        forward_cpu<scalar_t>(d, q.data_ptr<scalar_t>(), k.data_ptr<scalar_t>(), v.data_ptr<scalar_t>(),
                              log_a.data_ptr<scalar_t>(), h0.data_ptr<scalar_t>(), o.data_ptr<scalar_t>(),
                              h_final.data_ptr<scalar_t>(), ck.data_ptr<scalar_t>());
      });
    }
    ctx->save_for_backward({q, k, v, log_a, ck});
    return {o, h_final};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &q = saved[0], &k = saved[1], &v = saved[2], &log_a = saved[3], &ck = saved[4];
    const Dims d = dims_of(q);
    const at::Tensor d_o = grads[0].defined() ? grads[0].contiguous() : at::Tensor();
    const at::Tensor d_hT = grads[1].defined() ? grads[1].contiguous() : at::Tensor();
    at::Tensor dq = at::empty_like(q), dk = at::empty_like(k), dv = at::empty_like(v), dla = at::empty_like(log_a);
    at::Tensor dh0 = at::empty({d.B, d.H, d.K}, q.options());
    if (q.is_cuda()) {
#ifdef SCANLAB_WITH_CUDA
      auto p = cuda_params(q, k, v, log_a, ck);
      p.d_o = ptr_or_null<float>(d_o);
      p.d_h_final = ptr_or_null<float>(d_hT);
      p.d_q = dq.data_ptr<float>();
      p.d_k = dk.data_ptr<float>();
      p.d_v = dv.data_ptr<float>();
      p.d_log_a = dla.data_ptr<float>();
      p.d_h0 = dh0.data_ptr<float>();
      check_launch(cuda::launch_diagonal_scan_backward(p, at::cuda::getCurrentCUDAStream().stream()),
                   "diagonal scan backward");
#endif
    } else {
      AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "diagonal_scan_backward", [&] {
        backward_cpu<scalar_t>(d, q.data_ptr<scalar_t>(), k.data_ptr<scalar_t>(), v.data_ptr<scalar_t>(),
                               log_a.data_ptr<scalar_t>(), ck.data_ptr<scalar_t>(), ptr_or_null<scalar_t>(d_o),
                               ptr_or_null<scalar_t>(d_hT), dq.data_ptr<scalar_t>(), dk.data_ptr<scalar_t>(),
                               dv.data_ptr<scalar_t>(), dla.data_ptr<scalar_t>(), dh0.data_ptr<scalar_t>());
      });
    }
    return {dq, dk, dv, dla, dh0};
  }
};

}  // namespace

bool affine_scan_diagonal_single_value_supports(const AffineScanArgs& a) {
  if (!a.q.defined() || !a.v.defined() || gate_kind(a.log_a, 3) != GateKind::Diagonal || a.v.dim() != 4 ||
      a.v.size(3) != 1)
    return false;
  if (!a.q.is_cuda()) return a.q.is_cpu();
#ifdef SCANLAB_WITH_CUDA
  // The kernels are float32; a float64 model on the GPU keeps the token loop.
  return state_dtype(a.q.scalar_type()) == at::kFloat && a.q.size(3) <= cuda::kMaxDiagonalScanKeyDim;
#else
  return false;
#endif
}

AffineScanOut affine_scan_diagonal_single_value(const AffineScanArgs& a) {
  check_affine_scan_args(a);
  SCANLAB_CHECK(affine_scan_diagonal_single_value_supports(a),
                "affine_scan_diagonal_single_value: expected a diagonal gate [B, T, H, K] ",
                "and v [B, T, H, 1] on the CPU, or float32 on CUDA with K <= 1024 in a CUDA build; got log_a ",
                a.log_a.defined() ? a.log_a.sizes() : at::IntArrayRef{}, ", v ", a.v.sizes(), " on ", a.q.device());
  const auto sd = state_dtype(a.q.scalar_type());
  auto prep = [&](const at::Tensor& t) { return t.to(sd).contiguous(); };
  // Zeros rather than an undefined h0: autograd functions take only defined inputs.
  const at::Tensor h0 = a.h0.defined() ? prep(a.h0.squeeze(-1))
                                       : at::zeros({a.q.size(0), a.q.size(2), a.q.size(3)}, a.q.options().dtype(sd));
  auto out = DiagonalScanFunction::apply(prep(a.q), prep(a.k), prep(a.v.squeeze(-1)), prep(a.log_a), h0);
  return {out[0].unsqueeze(-1).to(a.q.scalar_type()), out[1].unsqueeze(-1)};
}

}  // namespace scanlab::ops
