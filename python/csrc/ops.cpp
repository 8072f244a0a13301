// The ops as dispatcher operators, torch.ops.scanlab.*: each runs one evaluation path of src/ops/ and
// returns (o, state...). They are composite (CompositeImplicitAutograd): autograd records the ATen
// ops and the C++ autograd functions inside the path, so gradients are the C++ library's own.
// Decode steps are functional: the state passed in is never written (a fused CUDA step, which
// updates its state in place, gets a copy).
#include <ATen/ATen.h>
#include <torch/library.h>

#include <string>
#include <tuple>

#include "errors.h"
#include "ops/affine_scan/affine_scan.h"
#include "ops/affine_scan/mlstm.h"
#include "ops/delta_rule/delta_rule.h"

namespace scanlab::python {
namespace {

using c10::optional;
using ops::AffineScanArgs;

at::Tensor or_undefined(const optional<at::Tensor>& t) { return t.has_value() ? *t : at::Tensor(); }

enum class Path { Chunked, Ref, Blelloch };

Path parse_path(const std::string& op, const std::string& path) {
  if (path == "chunked") return Path::Chunked;
  if (path == "ref") return Path::Ref;
  if (path == "blelloch") return Path::Blelloch;
  throw scanlab::Error(op + ": path is \"" + path + "\"; expected \"chunked\", \"ref\" or \"blelloch\"");
}

std::tuple<at::Tensor, at::Tensor> affine_scan(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                               const optional<at::Tensor>& log_a, const optional<at::Tensor>& h0,
                                               int64_t chunk, std::string path) {
  return as_torch_errors([&] {
    AffineScanArgs a{q, k, v, or_undefined(log_a), or_undefined(h0), chunk};
    ops::AffineScanOut out;
    switch (parse_path("scanlab.ops.affine_scan", path)) {
      case Path::Chunked:
        out = ops::affine_scan_chunked(a);
        break;
      case Path::Ref:
        out = ops::affine_scan_ref(a);
        break;
      case Path::Blelloch:
        out = ops::affine_scan_blelloch(a);
        break;
    }
    return std::make_tuple(out.o, out.h_final);
  });
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> mlstm(
    const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& log_f, const at::Tensor& log_i,
    const optional<at::Tensor>& C0, const optional<at::Tensor>& n0, const optional<at::Tensor>& m0, int64_t chunk,
    std::string path) {
  return as_torch_errors([&] {
    ops::MlstmArgs a{q, k, v, log_f, log_i, {or_undefined(C0), or_undefined(n0), or_undefined(m0)}, chunk};
    ops::MlstmOut out;
    switch (parse_path("scanlab.ops.mlstm", path)) {
      case Path::Chunked:
        out = ops::mlstm_chunked(a);
        break;
      case Path::Ref:
        out = ops::mlstm_ref(a);
        break;
      case Path::Blelloch:
        out = ops::mlstm_blelloch(a);
        break;
    }
    return std::make_tuple(out.o, out.state.C, out.state.n, out.state.m);
  });
}

std::tuple<at::Tensor, at::Tensor> delta_rule(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                              const at::Tensor& beta, const optional<at::Tensor>& log_a,
                                              const optional<at::Tensor>& h0, int64_t chunk, std::string path) {
  return as_torch_errors([&] {
    ops::DeltaRuleArgs a{q, k, v, beta, or_undefined(log_a), or_undefined(h0), chunk};
    ops::DeltaRuleOut out;
    switch (parse_path("scanlab.ops.delta_rule", path)) {
      case Path::Chunked:
        out = ops::delta_rule_chunked(a);
        break;
      case Path::Ref:
        out = ops::delta_rule_ref(a);
        break;
      case Path::Blelloch:
        out = ops::delta_rule_blelloch(a);
        break;
    }
    return std::make_tuple(out.o, out.h_final);
  });
}

std::tuple<at::Tensor, at::Tensor> affine_scan_step(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                                    const optional<at::Tensor>& log_a, const at::Tensor& h) {
  return as_torch_errors([&] {
    ops::AffineStepArgs a{q, k, v, or_undefined(log_a)};
    at::Tensor state = h;
    if (ops::affine_scan_step_cuda_supports(a, state)) state = h.clone();  // the fused step writes in place
    at::Tensor o = ops::affine_scan_step(a, state);
    return std::make_tuple(o, state);
  });
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> mlstm_step(const at::Tensor& q, const at::Tensor& k,
                                                                      const at::Tensor& v, const at::Tensor& log_f,
                                                                      const at::Tensor& log_i, const at::Tensor& C,
                                                                      const at::Tensor& n, const at::Tensor& m) {
  return as_torch_errors([&] {
    ops::MlstmStepArgs a{q, k, v, log_f, log_i};
    ops::MlstmState state{C, n, m};
    if (ops::mlstm_step_cuda_supports(a, state)) state = {C.clone(), n.clone(), m.clone()};
    at::Tensor o = ops::mlstm_step(a, state);
    return std::make_tuple(o, state.C, state.n, state.m);
  });
}

std::tuple<at::Tensor, at::Tensor> delta_rule_step(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                                   const at::Tensor& beta, const optional<at::Tensor>& log_a,
                                                   const at::Tensor& h) {
  return as_torch_errors([&] {
    ops::DeltaRuleStepArgs a{q, k, v, beta, or_undefined(log_a)};
    at::Tensor state = h;
    if (ops::delta_rule_step_cuda_supports(a, state)) state = h.clone();
    at::Tensor o = ops::delta_rule_step(a, state);
    return std::make_tuple(o, state);
  });
}

}  // namespace
}  // namespace scanlab::python

TORCH_LIBRARY(scanlab, m) {
  using namespace scanlab::python;
  m.def(
      "affine_scan(Tensor q, Tensor k, Tensor v, Tensor? log_a, Tensor? h0, int chunk, str path)"
      " -> (Tensor, Tensor)",
      &affine_scan);
  m.def(
      "mlstm(Tensor q, Tensor k, Tensor v, Tensor log_f, Tensor log_i, Tensor? C0, Tensor? n0, Tensor? m0,"
      " int chunk, str path) -> (Tensor, Tensor, Tensor, Tensor)",
      &mlstm);
  m.def(
      "delta_rule(Tensor q, Tensor k, Tensor v, Tensor beta, Tensor? log_a, Tensor? h0, int chunk, str path)"
      " -> (Tensor, Tensor)",
      &delta_rule);
  m.def("affine_scan_step(Tensor q, Tensor k, Tensor v, Tensor? log_a, Tensor h) -> (Tensor, Tensor)",
        &affine_scan_step);
  m.def(
      "mlstm_step(Tensor q, Tensor k, Tensor v, Tensor log_f, Tensor log_i, Tensor C, Tensor n, Tensor m)"
      " -> (Tensor, Tensor, Tensor, Tensor)",
      &mlstm_step);
  m.def("delta_rule_step(Tensor q, Tensor k, Tensor v, Tensor beta, Tensor? log_a, Tensor h) -> (Tensor, Tensor)",
        &delta_rule_step);
}
