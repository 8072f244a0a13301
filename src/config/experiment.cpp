#include "config/experiment.h"

#include <toml++/toml.h>

#include <filesystem>
#include <sstream>

#include "config/strict_json.h"
#include "core/atomic_file.h"
#include "core/check.h"
#include "core/memory.h"
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
  SCANLAB_CHECK(false, "config: ", where, " is a date/time; expected a number, string, boolean, array or table");
  return nullptr;
}

void read_task(StrictSection& s, TaskConfig& t) {
  s.read_choice("kind", t.kind, {"mqar", "word_problem", "flip_flop", "lm"});
  if (t.kind == "mqar") {
    auto& o = t.mqar;
    s.read_at_least("vocab_size", o.vocab_size, 4);
    s.read_at_least("seq_len", o.seq_len, 4);
    s.read_at_least("num_kv_pairs", o.num_kv_pairs, 1);
    s.read("power_a", o.power_a);
    s.read_at_least("min_query_distance", o.min_query_distance, 0);
    s.read("random_non_queries", o.random_non_queries);
    s.read_at_least("num_train", o.num_train, 1);
    s.read_at_least("num_val", o.num_val, 1);
    s.read("seed", o.seed);
    o.val_seed = o.seed + 10;  // Zoology's convention unless given
    s.read("val_seed", o.val_seed);
  } else if (t.kind == "word_problem") {
    auto& o = t.word_problem;
    s.read("group", o.group);
    s.read_at_least("seq_len", o.seq_len, 2);
    s.read_at_least("num_train", o.num_train, 1);
    s.read_at_least("num_val", o.num_val, 1);
    s.read("seed", o.seed);
    o.val_seed = o.seed + 10;
    s.read("val_seed", o.val_seed);
  } else if (t.kind == "flip_flop") {
    auto& o = t.flip_flop;
    s.read_at_least("num_values", o.num_values, 2);
    s.read_at_least("num_distractors", o.num_distractors, 1);
    s.read_at_least("write_prob", o.write_prob, 0.0);
    s.read_at_least("seq_len", o.seq_len, 1);
    s.read_at_least("num_train", o.num_train, 1);
    s.read_at_least("num_val", o.num_val, 1);
    s.read("seed", o.seed);
    o.val_seed = o.seed + 10;
    s.read("val_seed", o.val_seed);
  } else {
    auto& o = t.lm;
    s.read("path", o.corpus.path);
    s.read_choice("format", o.corpus.format, {"auto", "plain", "wikitext"});
    s.read("val_fraction", o.corpus.val_fraction);
    s.read_choice("tokenizer", o.tokenizer, {"gpt2", "byte"});
    s.read("bpe_dir", o.bpe_dir);
    s.read_at_least("seq_len", o.seq_len, 2);
  }
  s.finish();
}

void read_train(StrictSection& s, TrainOptions& o) {
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
  for (int64_t len : o.curriculum) SCANLAB_CHECK(len >= 2, "config: train.curriculum has length ", len, "; each must be >= 2");
}

void read_eval(StrictSection& s, EvalConfig& o) {
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
    SCANLAB_CHECK(false, "config: ", origin, " is not valid TOML: ", os.str());
  }
  return nullptr;
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
  StrictSection top(root, "");
  top.read("name", cfg.name);
  for (const char* section : {"task", "model", "train", "eval"}) top.allow(section);
  top.finish();
  StrictSection task(root.value("task", nlohmann::json::object()), "task");
  read_task(task, cfg.task);
  StrictSection train(root.value("train", nlohmann::json::object()), "train");
  read_train(train, cfg.train);
  StrictSection eval(root.value("eval", nlohmann::json::object()), "eval");
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
    SCANLAB_CHECK(false, path, (overrides.empty() ? "" : " (with --set)"), ": ", e.what());
  }
  return {};
}

int64_t task_seq_len(const TaskConfig& cfg) {
  if (cfg.kind == "mqar") return cfg.mqar.seq_len;
  if (cfg.kind == "word_problem") return cfg.word_problem.seq_len;
  if (cfg.kind == "flip_flop") return cfg.flip_flop.seq_len;
  return cfg.lm.seq_len;
}

namespace {

// The synthetic tasks generate their examples up front, int64 inputs and targets of seq_len tokens
// each: num_train = 10^14 was an allocation failure, not an error.
template <class Options>
Options sized_task(const Options& task, int64_t seq_len, const char* kind) {
  Options o = task;
  if (seq_len > 0) o.seq_len = seq_len;
  const double examples = static_cast<double>(o.num_train) + static_cast<double>(o.num_val);
  check_fits_in_memory(16.0 * examples * static_cast<double>(o.seq_len), at::kCPU,
                       std::string("[task] ") + kind + ": num_train + num_val = " + std::to_string(o.num_train) +
                           " + " + std::to_string(o.num_val) + " examples of seq_len " + std::to_string(o.seq_len));
  return o;
}

}  // namespace

std::unique_ptr<tasks::Task> make_task(const TaskConfig& cfg, int64_t seq_len) {
  if (cfg.kind == "mqar") return std::make_unique<tasks::MqarTask>(sized_task(cfg.mqar, seq_len, "mqar"));
  if (cfg.kind == "word_problem")
    return std::make_unique<tasks::WordProblemTask>(sized_task(cfg.word_problem, seq_len, "word_problem"));
  if (cfg.kind == "flip_flop")
    return std::make_unique<tasks::FlipFlopTask>(sized_task(cfg.flip_flop, seq_len, "flip_flop"));
  SCANLAB_CHECK(cfg.kind == "lm", "task kind '", cfg.kind, "' is unknown; expected mqar, word_problem, flip_flop or lm");
  auto o = cfg.lm;
  if (seq_len > 0) o.seq_len = seq_len;
  return std::make_unique<tasks::LmTask>(o);
}

}  // namespace scanlab::config
