// Models from Python: a handle on a C++ SequenceModel (models/), built from the registry or read from
// a model file, with its parameters handed to Python as the very tensors the C++ module trains (so
// a torch.optim optimizer updates the C++ model and gradients land on them), and its streams.
// scanlab/models.py wraps the handle in a torch.nn.Module.
#include <pybind11/stl.h>

#include <nlohmann/json.hpp>

#include "bindings.h"
#include "core/check.h"
#include "models/checkpoint.h"
#include "models/registry.h"
#include "models/sequence_model.h"

namespace py = pybind11;

namespace scanlab::python {
namespace {

using models::SequenceModel;
using models::Stream;

at::ScalarType parse_dtype(const std::string& name) {
  if (name == "float32") return at::kFloat;
  if (name == "float64") return at::kDouble;
  if (name == "bfloat16") return at::kBFloat16;
  if (name == "float16") return at::kHalf;
  throw scanlab::Error("model dtype \"" + name + "\"; expected float32, float64, bfloat16 or float16");
}

at::Device parse_device(const std::string& name) {
  try {
    return at::Device(name);
  } catch (const c10::Error&) {
    throw scanlab::Error("device \"" + name + "\"; expected cpu, cuda or cuda:N");
  }
}

// A stream keeps its model alive: streams read the model's weights on every step.
struct PyStream {
  std::shared_ptr<SequenceModel> model;
  std::unique_ptr<Stream> stream;
};

struct PyModel {
  std::shared_ptr<SequenceModel> model;
  nlohmann::json tokenizer;  // what the file carried ({} for a created model: the default on saving)

  std::vector<std::pair<std::string, at::Tensor>> named(bool parameters) const {
    std::vector<std::pair<std::string, at::Tensor>> out;
    const auto items = parameters ? model->named_parameters(true) : model->named_buffers(true);
    for (const auto& item : items) out.emplace_back(item.key(), item.value());
    return out;
  }
};

PyModel load(const std::string& path, const std::string& device) {
  auto file = models::read_model_file(path);
  auto model = models::load_model(file, path, parse_device(device));
  return PyModel{std::move(model), file.tokenizer};
}

PyModel create(const std::string& config_json) {
  return PyModel{models::make_model(nlohmann::json::parse(config_json)), nlohmann::json{}};
}

}  // namespace

void bind_models(py::module_& m) {
  auto s = m.def_submodule("models", "scanlab's sequence models (C++ modules)");
  s.def("names", &models::model_names, "registered model names");
  s.def(
      "small_config", [](const std::string& name) { return models::find_model(name).small_config().dump(); },
      py::arg("name"), "the registry's small configuration of a model, as JSON text");
  s.def("load", &load, py::arg("path"), py::arg("device") = "cpu");
  s.def("create", &create, py::arg("config_json"));

  py::class_<PyStream>(s, "Stream")
      .def(
          "step",
          [](PyStream& self, const at::Tensor& tokens) {
            py::gil_scoped_release no_gil;
            return self.stream->step(tokens);
          },
          py::arg("tokens"), "tokens [B] int64 -> logits [B, V] for the next position")
      .def_property_readonly("position", [](const PyStream& self) { return self.stream->position(); })
      .def("state_bytes", [](const PyStream& self) { return self.stream->state_bytes(); })
      .def_property_readonly("agg_calls", [](const PyStream& self) { return self.stream->agg_calls(); })
      .def(
          "save", [](const PyStream& self) { return self.stream->save(); },
          "the tensors that continue this stream exactly (restore() takes them)")
      .def(
          "restore", [](PyStream& self, const std::map<std::string, at::Tensor>& t) { self.stream->restore(t); },
          py::arg("tensors"));

  py::class_<PyModel>(s, "Model")
      .def_property_readonly("kind", [](const PyModel& self) { return self.model->kind(); })
      .def_property_readonly("config_json", [](const PyModel& self) { return self.model->config().dump(); })
      .def_property_readonly("tokenizer_json", [](const PyModel& self) { return self.tokenizer.dump(); })
      .def_property_readonly("vocab_size", [](const PyModel& self) { return self.model->vocab_size(); })
      .def("named_parameters", [](const PyModel& self) { return self.named(true); })
      .def("named_buffers", [](const PyModel& self) { return self.named(false); })
      .def(
          "train", [](PyModel& self, bool on) { self.model->train(on); }, py::arg("mode"))
      .def_property_readonly("training", [](const PyModel& self) { return self.model->is_training(); })
      .def(
          "to",
          [](PyModel& self, const std::string& device, const std::string& dtype) {
            self.model->to(parse_device(device), parse_dtype(dtype));
          },
          py::arg("device"), py::arg("dtype"))
      .def(
          "forward",
          [](PyModel& self, const at::Tensor& tokens) {
            py::gil_scoped_release no_gil;
            return self.model->forward(tokens);
          },
          py::arg("tokens"), "tokens [B, T] int64 -> logits [B, T, V]")
      .def(
          "stream",
          [](PyModel& self, int64_t batch) {
            SCANLAB_CHECK(batch >= 1, "stream: batch is ", batch, "; expected at least 1");
            return PyStream{self.model, self.model->start_stream(batch)};
          },
          py::arg("batch"))
      .def(
          "prefill",
          [](PyModel& self, const at::Tensor& tokens) {
            auto [logits, stream] = self.model->prefill(tokens);
            return std::make_pair(logits, PyStream{self.model, std::move(stream)});
          },
          py::arg("tokens"), "tokens [B, T] -> (logits [B, T, V], a stream after them)")
      .def(
          "save",
          [](const PyModel& self, const std::string& path) {
            models::save_checkpoint(path, *self.model, self.tokenizer);
          },
          py::arg("path"), "writes the model file (weights, config, tokenizer) that the CLI reads");
}

}  // namespace scanlab::python
