// The pybind11 half of scanlab._C: one function per area, called from module.cpp. (The ops are
// dispatcher operators, ops.cpp, reached as torch.ops.scanlab.*.)
#pragma once
#include <torch/extension.h>

namespace scanlab::python {

void register_error_translators(pybind11::module_& m);
void bind_scan(pybind11::module_& m);    // scan.cpp: the Blelloch scan and online scanner, Python Agg
void bind_models(pybind11::module_& m);  // models.cpp: model files, parameters, streams
void bind_data(pybind11::module_& m);    // data.cpp: NAR datasets, MQAR and state-tracking tasks

}  // namespace scanlab::python
