// The entry points whose parsers need LibTorch (tensors, models, streams); the others are in
// parser_targets.cpp, which the quick fuzz build (fuzz/quick/) compiles without the library.
#include "fuzz_targets.h"

#include <map>
#include <memory>

#include "core/check.h"
#include "infer/generate.h"
#include "io/safetensors.h"
#include "io/toml.h"
#include "models/checkpoint.h"
#include "models/registry.h"
#include "nar/batch.h"
#include "nar/dataset.h"
#include "nar/dataset_io.h"
#include "nar/npz.h"
#include "refusal.h"
#include "train/experiment.h"
#ifdef SCANLAB_WITH_SERVE
#include "serve/request.h"
#endif

namespace scanlab::fuzz {
namespace {

// One small model per registered name, built once (float32, eval): the stream-state and config targets
// restore into it.
models::SequenceModel& small_model(size_t index) {
  static std::map<size_t, std::shared_ptr<models::SequenceModel>> built;
  auto& m = built[index];
  if (!m) {
    at::manual_seed(0);
    m = models::make_model(models::find_model(models::model_names().at(index)).small_config());
    m->eval();
  }
  return *m;
}

constexpr const char* kTomlSeed = R"(name = "fuzz"

[task]
kind = "mqar"
vocab_size = 16
seq_len = 8
num_kv_pairs = 2
num_train = 8
num_val = 4

[model]
model = "gla"
d_model = 16
n_layers = 1

[train]
steps = 2
batch_size = 2
curriculum = [4, 8]
)";

}  // namespace

int fuzz_nar_dataset(const uint8_t* data, size_t size) {
  return refusal_is_fine([&] { nar::decode_dataset(bytes_of(data, size), "fuzz"); });
}

int fuzz_toml_config(const uint8_t* data, size_t size) {
  return refusal_is_fine([&] { train::parse_experiment(io::toml_to_json(bytes_of(data, size), "fuzz.toml")); });
}

// The input is the "scanlab.config" metadata of a file holding a small model's weights (the model the
// config names when it names a registered one): read and load as any model file is.
int fuzz_model_config(const uint8_t* data, size_t size) {
  return refusal_is_fine([&] {
    const std::string text = bytes_of(data, size);
    const auto names = models::model_names();
    size_t index = 0;
    const auto parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_object() && parsed.contains("model") && parsed["model"].is_string())
      for (size_t i = 0; i < names.size(); ++i)
        if (names[i] == parsed["model"].get<std::string>()) index = i;
    io::Safetensors st;
    st.tensors = models::model_file_of(small_model(index)).weights;
    st.metadata[models::kCheckpointConfigKey] = text;
    models::load_model(models::from_safetensors(std::move(st), "fuzz"), "fuzz", at::kCPU);
  });
}

// Byte 0 picks the registered model; the rest is a saved generation state. A state that restores
// must also step.
int fuzz_stream_state(const uint8_t* data, size_t size) {
  refusal_slot() = "empty input";
  if (size == 0) return 0;
  return refusal_is_fine([&] {
    models::SequenceModel& model = small_model(data[0] % models::model_names().size());
    const io::Safetensors st = io::decode_safetensors(bytes_of(data + 1, size - 1), "fuzz");
    auto [stream, logits] = infer::load_generation_state(model, st.tensors);
    at::NoGradGuard no_grad;
    stream->step(at::zeros({logits.size(0)}, at::kLong));
  });
}

#ifdef SCANLAB_WITH_SERVE
int fuzz_serve_request(const uint8_t* data, size_t size) {
  refusal_slot() = "empty input";
  if (size == 0) return 0;
  return refusal_is_fine<serve::RequestError>([&] {
    const auto kind = data[0] % 2 ? serve::RequestKind::Continue : serve::RequestKind::Completion;
    serve::parse_request(bytes_of(data + 1, size - 1), kind, serve::RequestLimits{});
  });
}
#endif

const std::vector<FuzzTarget>& fuzz_targets() {
  static const std::vector<FuzzTarget> targets = {
      {"safetensors", fuzz_safetensors},     {"npz", fuzz_npz},
      {"nar_dataset", fuzz_nar_dataset},     {"toml_config", fuzz_toml_config},
      {"model_config", fuzz_model_config},   {"stream_state", fuzz_stream_state},
      {"gpt2_bpe", fuzz_gpt2_bpe},           {"token_ids", fuzz_token_ids},
#ifdef SCANLAB_WITH_SERVE
      {"serve_request", fuzz_serve_request},
#endif
  };
  return targets;
}

std::vector<std::string> fuzz_seeds(const std::string& target) {
  if (target == "safetensors") {
    io::Safetensors st;
    st.tensors["w"] = at::arange(6, at::kFloat).view({2, 3});
    st.tensors["ids"] = at::arange(3, at::kLong);
    st.metadata["format"] = "pt";
    return {io::encode_safetensors(st), io::encode_safetensors({})};
  }
  if (target == "npz")
    return {nar::encode_npz({{"x", nar::NpyArray::f64({2, 2}, {1, 2, 3, 4})},
                             {"n", nar::NpyArray::i64({3}, {0, 1, 2})},
                             {"meta", nar::NpyArray::text("{}")}})};
  if (target == "nar_dataset") {
    std::vector<std::string> out;
    for (const char* algorithm : {"minimum", "parallel_search"}) {
      nar::DatasetOptions o;
      o.algorithm = algorithm;
      o.nodes = 8;
      o.count = 1;
      out.push_back(nar::encode_dataset({nar::make_batch(nar::sample_dataset(o)), o}));
    }
    return out;
  }
  if (target == "toml_config") return {kTomlSeed};
  if (target == "model_config") {
    std::vector<std::string> out;
    for (size_t i = 0; i < models::model_names().size(); ++i) out.push_back(small_model(i).config().dump());
    return out;
  }
  if (target == "stream_state") {
    std::vector<std::string> out;
    for (size_t i = 0; i < models::model_names().size(); ++i) {
      infer::GenerateOptions o;
      o.max_new_tokens = 3;
      const auto r = infer::generate(small_model(i), at::ones({1, 2}, at::kLong), o, nullptr);
      out.push_back(std::string(1, static_cast<char>(i)) +
                    io::encode_safetensors({infer::save_generation_state(*r.stream, r.next_logits), {}}));
    }
    return out;
  }
  if (target == "gpt2_bpe") return {"Hello world, it's 2026!\n", "  spaces\tand\u00e9 unicode \U0001F600"};
  if (target == "token_ids") return {"1 2 3\n", "0\n255 17\t4\n"};
  if (target == "serve_request")
    return {std::string("\0", 1) + R"({"prompt": [1, 2, 3], "max_tokens": 4, "temperature": 0.5})",
            std::string("\1", 1) + R"({"prompt": "abc", "max_tokens": 2, "keep_session": true})"};
  SCANLAB_FAIL("fuzz: unknown target '", target, "'");
}

}  // namespace scanlab::fuzz
