// The scan engine (src/scan/) with an aggregator written in Python. Two state kinds:
//   tensor states  a list of tensors with a leading batch dim; the engine's tensor path
//                  (scan::tensor_blelloch_scan, TensorOnlineScanner) validates them and hands the
//                  Python agg one tree level at a time, the level's pairs concatenated along dim 0;
//   object states  any Python objects; the generic engine (blelloch_scan<S>, OnlineScanner<S>)
//                  hands agg two equally long lists (older, newer) per tree level.
// Either way the bracketing is the C++ engine's, since it is the C++ engine.
#include <pybind11/stl.h>

#include "bindings.h"
#include "scan/blelloch.h"
#include "scan/online_scanner.h"
#include "scan/tensor_state.h"

namespace py = pybind11;

namespace scanlab::python {
namespace {

using scan::AggCounter;
using scan::Prefix;
using scan::ScanKind;
using scan::TensorState;

ScanKind kind_of(bool inclusive) { return inclusive ? ScanKind::Inclusive : ScanKind::Exclusive; }

// agg(older: list[Tensor], newer: list[Tensor]) -> list[Tensor], the engine's TensorAgg.
scan::TensorAgg tensor_agg(py::function agg) {
  return [agg](const TensorState& older, const TensorState& newer) {
    py::object out = agg(older, newer);
    try {
      return out.cast<TensorState>();
    } catch (const py::cast_error&) {
      throw py::type_error("scan agg returned " + std::string(py::str(py::type::of(out).attr("__name__"))) +
                           "; expected a list of tensors shaped like its inputs");
    }
  };
}

// agg(older: list, newer: list) -> list of the same length, the engine's BatchedAgg<py::object>.
scan::BatchedAgg<py::object> object_agg(py::function agg) {
  return [agg](const std::vector<py::object>& older, const std::vector<py::object>& newer) {
    py::object out = agg(older, newer);
    if (!py::isinstance<py::list>(out) && !py::isinstance<py::tuple>(out))
      throw py::type_error("scan agg returned " + std::string(py::str(py::type::of(out).attr("__name__"))) +
                           " for a level of " + std::to_string(older.size()) +
                           " pairs; expected a list of that many states");
    auto states = out.cast<std::vector<py::object>>();
    if (states.size() != older.size())
      throw py::value_error("scan agg returned " + std::to_string(states.size()) + " states for " +
                            std::to_string(older.size()) + " pairs; expected one per pair");
    return states;
  };
}

py::tuple scan_result(const std::vector<Prefix<TensorState>>& prefixes, const AggCounter& c) {
  py::list out;
  for (const auto& p : prefixes) out.append(p ? py::cast(*p) : py::none());
  return py::make_tuple(out, c.calls, c.pairs);
}

py::tuple blelloch_tensor(const std::vector<TensorState>& states, py::function agg, bool inclusive) {
  AggCounter counter;
  auto prefixes = scan::tensor_blelloch_scan(states, tensor_agg(std::move(agg)), kind_of(inclusive), &counter);
  return scan_result(prefixes, counter);
}

py::tuple blelloch_object(const std::vector<py::object>& states, py::function agg, bool inclusive) {
  AggCounter counter;
  auto prefixes = scan::blelloch_scan<py::object>(states, object_agg(std::move(agg)), kind_of(inclusive), &counter);
  py::list out;
  for (const auto& p : prefixes) out.append(p ? *p : py::none());
  return py::make_tuple(out, counter.calls, counter.pairs);
}

class ObjectScanner {
 public:
  explicit ObjectScanner(py::function agg) : scanner_(object_agg(std::move(agg))) {}
  void insert(py::object x) { scanner_.insert(std::move(x)); }
  py::object prefix() const {
    auto p = scanner_.prefix();
    return p ? *p : py::none();
  }
  const scan::OnlineScanner<py::object>& scanner() const { return scanner_; }

 private:
  scan::OnlineScanner<py::object> scanner_;
};

}  // namespace

void bind_scan(py::module_& m) {
  auto s = m.def_submodule("scan", "the C++ scan engine with a Python aggregator");
  s.def("blelloch_tensor", &blelloch_tensor, py::arg("states"), py::arg("agg"), py::arg("inclusive"),
        "Blelloch scan over tensor states (lists of tensors); returns (prefixes, agg calls, pairs)");
  s.def("blelloch_object", &blelloch_object, py::arg("states"), py::arg("agg"), py::arg("inclusive"),
        "Blelloch scan over any Python objects, agg on lists; returns (prefixes, agg calls, pairs)");
  s.def(
      "blelloch_batched_calls",
      [](int64_t n, bool inclusive) { return scan::blelloch_batched_calls(n, kind_of(inclusive)); }, py::arg("n"),
      py::arg("inclusive"), "the number of batched Agg calls blelloch makes for n states");

  py::class_<scan::TensorOnlineScanner>(s, "TensorOnlineScanner")
      .def(py::init([](py::function agg) { return new scan::TensorOnlineScanner(tensor_agg(std::move(agg))); }),
           py::arg("agg"))
      .def("insert", &scan::TensorOnlineScanner::insert, py::arg("state"))
      .def("prefix",
           [](const scan::TensorOnlineScanner& self) -> py::object {
             auto p = self.prefix();
             return p ? py::cast(*p) : py::none();
           })
      .def_property_readonly("count", &scan::TensorOnlineScanner::count)
      .def_property_readonly("stored_states", &scan::TensorOnlineScanner::stored_states)
      .def_property_readonly("stored_bytes", &scan::TensorOnlineScanner::stored_bytes)
      .def_property_readonly("agg_calls",
                             [](const scan::TensorOnlineScanner& self) { return self.agg_counter().calls; })
      .def_property_readonly("agg_pairs",
                             [](const scan::TensorOnlineScanner& self) { return self.agg_counter().pairs; })
      .def("save", &scan::TensorOnlineScanner::save, py::arg("prefix") = "scanner.")
      .def("restore", &scan::TensorOnlineScanner::restore, py::arg("tensors"), py::arg("prefix") = "scanner.");

  py::class_<ObjectScanner>(s, "ObjectOnlineScanner")
      .def(py::init<py::function>(), py::arg("agg"))
      .def("insert", &ObjectScanner::insert, py::arg("state"))
      .def("prefix", &ObjectScanner::prefix)
      .def_property_readonly("count", [](const ObjectScanner& self) { return self.scanner().count(); })
      .def_property_readonly("stored_states", [](const ObjectScanner& self) { return self.scanner().stored_states(); })
      .def_property_readonly("agg_calls", [](const ObjectScanner& self) { return self.scanner().agg_counter().calls; })
      .def_property_readonly("agg_pairs", [](const ObjectScanner& self) { return self.scanner().agg_counter().pairs; });
}

}  // namespace scanlab::python
