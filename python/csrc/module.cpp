// scanlab._C: the Python extension over scanlab_lib (the library the CLI links). The ops register
// with the dispatcher as this module loads (ops.cpp); the rest is bound here by area.
#include <torch/version.h>

#include "bindings.h"
#include "core/check.h"

namespace py = pybind11;

namespace scanlab::python {

void register_error_translators(py::module_& m) {
  (void)m;
  py::register_local_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const scanlab::Error& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const c10::ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what_without_backtrace());
    } catch (const c10::TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what_without_backtrace());
    } catch (const c10::IndexError& e) {
      PyErr_SetString(PyExc_IndexError, e.what_without_backtrace());
    } catch (const c10::Error& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what_without_backtrace());
    }
  });
}

}  // namespace scanlab::python

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "scanlab's C++ core (ops, scan engine, models, data) for PyTorch";
  m.attr("torch_version") = TORCH_VERSION;
  scanlab::python::register_error_translators(m);
  scanlab::python::bind_scan(m);
  scanlab::python::bind_models(m);
  scanlab::python::bind_data(m);
}
