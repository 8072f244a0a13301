#include "models/warm_start.h"

#include "core/check.h"
#include "models/registry.h"

namespace scanlab::models {

ModelFile warm_start_psm(const nlohmann::json& psm_config, const ModelFile& gpt2) {
  SCANLAB_CHECK(gpt2.config.value("model", std::string()) == "gpt2", "warm start: the source is a ",
                gpt2.config.value("model", std::string("?")), " model file; expected gpt2");
  SCANLAB_CHECK(psm_config.value("model", std::string()) == "transformer_psm",
                "warm start: only a transformer_psm starts from GPT-2 blocks");
  nlohmann::json c = psm_config;
  for (const char* k : {"n_embd", "n_head", "vocab_size"}) {
    if (!c.contains(k)) c[k] = gpt2.config[k];
    SCANLAB_CHECK(c[k] == gpt2.config[k], "warm start: ", k, " is ", c[k].dump(), " but the GPT-2 file has ",
                  gpt2.config[k].dump(), "; they must match");
  }
  const auto psm = make_model(c);
  psm->to(gpt2.weights.at("wte.weight").scalar_type());  // the source's precision
  c = psm->config();                                     // with every default filled in
  ModelFile f = model_file_of(*psm, gpt2.tokenizer);     // names and shapes of the T-PSM
  const int64_t layers = gpt2.config["n_layer"].get<int64_t>();
  const auto& w = gpt2.weights;
  auto take = [&](const std::string& to, const at::Tensor& from) {
    SCANLAB_CHECK(f.weights.count(to), "warm start: the T-PSM has no '", to, "'");
    SCANLAB_CHECK(from.sizes() == f.weights.at(to).sizes(), "warm start: '", to, "' is ", f.weights.at(to).sizes(),
                  " but its GPT-2 source is ", from.sizes());
    f.weights[to] = from.to(f.weights.at(to).scalar_type());
  };
  take("wte.weight", w.at("wte.weight"));
  const int64_t positions = f.weights.at("wpe.weight").size(0);
  SCANLAB_CHECK(positions <= w.at("wpe.weight").size(0), "warm start: the T-PSM has ", positions,
                " positions, GPT-2 only ", w.at("wpe.weight").size(0));
  take("wpe.weight", w.at("wpe.weight").narrow(0, 0, positions));
  take("head.weight", w.count("lm_head.weight") ? w.at("lm_head.weight") : w.at("wte.weight"));
  for (const char* stack : {"agg", "inf"}) {
    const int64_t n = c[std::string("n_layer_") + stack].get<int64_t>();
    SCANLAB_CHECK(n <= layers, "warm start: n_layer_", stack, " is ", n, " but the GPT-2 file has ", layers, " blocks");
    for (const auto& [name, t] : w) {
      if (name.rfind("h.", 0) == 0) {
        const int64_t i = std::stoll(name.substr(2, name.find('.', 2) - 2));
        if (i < n) take(std::string(stack) + "." + name, t);
      }
      if (name.rfind("ln_f.", 0) == 0) take(std::string(stack) + "." + name, t);
    }
  }
  return f;
}

}  // namespace scanlab::models
