#include "config/experiment.h"

#include <toml++/toml.h>

#include <filesystem>
#include <sstream>

#include "core/atomic_file.h"
#include "core/check.h"
#include "core/strict_json.h"
#include "core/utf8.h"

namespace scanlab::config {
namespace {

nlohmann::json node_to_json(const toml::node& node, const std::string& where) {
  if (auto* t = node.as_table()) {
    auto obj = nlohmann::json::object();
    for (auto&& [k, v] : *t) obj[std::string(k.str())] = node_to_json(v, where + "." + std::string(k.str()));
    return obj;
  }
  if (auto* a = node.as_array()) {
    auto arr = nlohmann::json::array();
    for (auto&& v : *a) arr.push_back(node_to_json(v, where));
    return arr;
  }
  if (auto* v = node.as_integer()) return v->get();
  if (auto* v = node.as_floating_point()) return v->get();
  if (auto* v = node.as_boolean()) return v->get();
  if (auto* v = node.as_string()) return v->get();
  SCANLAB_FAIL("config: ", where, " is a date/time; expected a number, string, boolean, array or table");
}

void read_train(StrictJson& s, TrainOptions& o) {
  s.read_at_least("steps", o.steps, 1);
  s.read_at_least("batch_size", o.batch_size, 1);
  s.read_at_least("grad_accum", o.grad_accum, 1);
  s.read_at_least("lr", o.lr, 0.0);
  s.read_at_least("warmup_steps", o.warmup_steps, 0);
  s.read_at_least("min_lr_ratio", o.min_lr_ratio, 0.0);
  s.read_at_least("weight_decay", o.weight_decay, 0.0);
  s.read_at_least("beta1", o.beta1, 0.0);
  s.read_at_least("beta2", o.beta2, 0.0);
  s.read_at_least("eps", o.eps, 0.0);
  s.read_at_least("clip_norm", o.clip_norm, 0.0);
  s.read_at_least("eval_every", o.eval_every, 0);
  s.read_at_least("eval_examples", o.eval_examples, 1);
  s.read_at_least("eval_batch_size", o.eval_batch_size, 1);
  s.read_at_least("early_stop_loss", o.early_stop_loss, 0.0);
  s.read("early_stop_accuracy", o.early_stop_accuracy);
  s.read_at_least("patience", o.patience, 0);
  s.read_at_least("checkpoint_every", o.checkpoint_every, 0);
  s.read_at_least("log_every", o.log_every, 1);
  s.read("curriculum", o.curriculum);
  s.read("bf16", o.bf16);
  s.read_choice("dtype", o.dtype, {"float32", "float64"});
  s.read("seed", o.seed);
  s.read("out_dir", o.out_dir);
  s.finish();
  SCANLAB_CHECK(o.beta1 < 1 && o.beta2 < 1, "config: train.beta1 and train.beta2 must be < 1");
  SCANLAB_CHECK(o.min_lr_ratio <= 1, "config: train.min_lr_ratio = ", o.min_lr_ratio, " must be <= 1");
  SCANLAB_CHECK(o.early_stop_accuracy <= 1, "config: train.early_stop_accuracy = ", o.early_stop_accuracy,
                " must be <= 1 (an accuracy; negative turns it off)");
  for (int64_t len : o.curriculum)
    SCANLAB_CHECK(len >= 2, "config: train.curriculum has length ", len, "; each must be >= 2");
}

void read_eval(StrictJson& s, EvalConfig& o) {
  s.read_choice("mode", o.mode, {"parallel", "stream"});
  s.read("lengths", o.lengths);
  s.read_at_least("examples", o.examples, 1);
  s.read_at_least("batch_size", o.batch_size, 1);
  s.finish();
  for (int64_t len : o.lengths) SCANLAB_CHECK(len >= 2, "config: eval.lengths has length ", len, "; each must be >= 2");
}

}  // namespace

nlohmann::json toml_to_json(const std::string& toml_text, const std::string& origin) {
  // toml++ 3.3 misbehaves on some malformed bytes (a lone 0xA7, '[' then NUL): text is checked first.
  const size_t bad = first_invalid_utf8(toml_text), nul = toml_text.find('\0');
  SCANLAB_CHECK(bad == std::string::npos, "config: ", origin, " is not UTF-8 text (byte ", bad,
                "); expected a UTF-8 TOML file");
  SCANLAB_CHECK(nul == std::string::npos, "config: ", origin, " holds a NUL byte at offset ", nul,
                "; expected a text file");
  try {
    return node_to_json(toml::parse(toml_text, origin), origin);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << e.description() << " (line " << e.source().begin.line << ", column " << e.source().begin.column << ")";
    SCANLAB_FAIL("config: ", origin, " is not valid TOML: ", os.str());
  }
}

void apply_override(nlohmann::json& root, const std::string& assignment) {
  const auto eq = assignment.find('=');
  SCANLAB_CHECK(eq != std::string::npos && eq > 0, "--set '", assignment, "': expected key=value, e.g. train.lr=3e-4");
  const std::string key = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  nlohmann::json value;
  try {
    value = node_to_json(*toml::parse("v = " + text)["v"].node(), key);
  } catch (const toml::parse_error&) {
    value = text;  // a bare word such as S5 or gpt2
  }
  nlohmann::json* node = &root;
  std::stringstream parts(key);
  std::string part, walked;
  std::vector<std::string> path;
  while (std::getline(parts, part, '.')) path.push_back(part);
  for (size_t i = 0; i < path.size(); ++i) {
    SCANLAB_CHECK(!path[i].empty(), "--set '", assignment, "': empty key component");
    walked += (walked.empty() ? "" : ".") + path[i];
    if (i + 1 == path.size()) {
      (*node)[path[i]] = value;
    } else {
      if (!node->contains(path[i])) (*node)[path[i]] = nlohmann::json::object();
      node = &(*node)[path[i]];
      SCANLAB_CHECK(node->is_object(), "--set '", assignment, "': ", walked, " is a value, not a table");
    }
  }
}

ExperimentConfig parse_experiment(const nlohmann::json& root) {
  ExperimentConfig cfg;
  cfg.source = root;
  StrictJson top(root, "config");
  top.read("name", cfg.name);
  for (const char* section : {"task", "model", "train", "eval"}) top.allow(section);
  top.finish();
  cfg.task = tasks::read_task_config(root.contains("task") ? root.at("task") : nlohmann::json());
  StrictJson train(root.value("train", nlohmann::json::object()), "config", "train");
  read_train(train, cfg.train);
  StrictJson eval(root.value("eval", nlohmann::json::object()), "config", "eval");
  read_eval(eval, cfg.eval);
  cfg.model = root.value("model", nlohmann::json::object());
  SCANLAB_CHECK(cfg.model.is_object() && cfg.model.contains("model") && cfg.model["model"].is_string(),
                "config: [model] needs model = \"<name>\" (a name from the model registry)");
  if (cfg.train.out_dir.empty()) cfg.train.out_dir = "runs/" + cfg.name;
  return cfg;
}

ExperimentConfig load_experiment(const std::string& path, const std::vector<std::string>& overrides) {
  auto root = toml_to_json(read_file(path), path);
  if (!root.contains("name")) root["name"] = std::filesystem::path(path).stem().string();
  for (const auto& o : overrides) apply_override(root, o);
  try {
    return parse_experiment(root);
  } catch (const Error& e) {  // the checks know the key, not the file: every error names its source
    SCANLAB_FAIL(path, (overrides.empty() ? "" : " (with --set)"), ": ", e.what());
  }
}

}  // namespace scanlab::config
