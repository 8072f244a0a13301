#include "config/experiment.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <sstream>

#include "core/atomic_file.h"
#include "core/check.h"
#include "core/strict_json.h"
#include "core/utf8.h"

namespace scanlab::config {
namespace {

// toml++ 3.3 reaches TOML_UNREACHABLE (undefined behaviour) when it tests a character from U+00A1
// to U+0499 for whitespace, which it does in quoted keys, in the tokens it reads past an error and
// elsewhere (fuzz_toml_config found three ways in: fuzz/regressions/toml_config/). So it never sees
// a non-ASCII character: each goes in as "~u" and 6 hex digits, and '~' itself as "~~". TOML code
// has no '~', so only strings and comments change (a non-ASCII character in code still fails to
// parse, as '~'); the keys and strings toml++ returns are decoded back.
std::string to_toml_ascii(const std::string& utf8) {
  std::string out;
  for (size_t i = 0; i < utf8.size();) {
    if (utf8[i] == '~') {
      out += "~~";
      ++i;
    } else if (static_cast<unsigned char>(utf8[i]) < 0x80) {
      out += utf8[i++];
    } else {
      out += fmt::format("~u{:06X}", next_code_point(utf8, i));  // well-formed: checked by first_invalid_utf8
    }
  }
  return out;
}

std::string from_toml_ascii(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '~' && i + 1 < s.size() && s[i + 1] == '~') {
      out += '~';
      ++i;
    } else if (s[i] == '~' && i + 7 < s.size() && s[i + 1] == 'u' &&
               s.find_first_not_of("0123456789ABCDEF", i + 2) >= i + 8) {
      append_utf8(out, static_cast<uint32_t>(std::stoul(s.substr(i + 2, 6), nullptr, 16)));
      i += 7;
    } else {
      out += s[i];  // a lone '~' (toml++'s own message text): as it is
    }
  }
  return out;
}

// toml++ parses `text` (already checked as UTF-8 without NUL) through the ASCII form above. A string
// escape that spells '~' (\u007E) would decode to a '~' the decoding then misreads: refused.
toml::table parse_toml(const std::string& text, const std::string& origin) {
  std::string lower = text;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  SCANLAB_CHECK(lower.find("\\u007e") == std::string::npos && lower.find("\\u0000007e") == std::string::npos,
                "config: ", origin, " spells '~' as the escape \\u007E; write '~' itself");
  return toml::parse(to_toml_ascii(text), origin);
}

nlohmann::json node_to_json(const toml::node& node, const std::string& where) {
  if (auto* t = node.as_table()) {
    auto obj = nlohmann::json::object();
    for (auto&& [k, v] : *t) {
      const std::string key = from_toml_ascii(std::string(k.str()));
      obj[key] = node_to_json(v, where + "." + key);
    }
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
  if (auto* v = node.as_string()) return from_toml_ascii(v->get());
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

// Text toml++ must never see: not UTF-8, or with a NUL byte (toml++ 3.3 misbehaves on a lone 0xA7
// and on '[' then NUL). `what` names the text.
void check_utf8_text(const std::string& text, const std::string& what) {
  const size_t bad = first_invalid_utf8(text), nul = text.find('\0');
  SCANLAB_CHECK(bad == std::string::npos, "config: ", what, " is not UTF-8 text (byte ", bad,
                "); expected a UTF-8 TOML file");
  SCANLAB_CHECK(nul == std::string::npos, "config: ", what, " holds a NUL byte at offset ", nul,
                "; expected a text file");
}

}  // namespace

nlohmann::json toml_to_json(const std::string& toml_text, const std::string& origin) {
  check_utf8_text(toml_text, origin);
  try {
    return node_to_json(parse_toml(toml_text, origin), origin);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << from_toml_ascii(std::string(e.description())) << " (line " << e.source().begin.line << ", column "
       << e.source().begin.column << ")";
    const bool ascii =
        std::none_of(toml_text.begin(), toml_text.end(), [](unsigned char c) { return c >= 0x80 || c == '~'; });
    SCANLAB_FAIL(
        "config: ", origin, " is not valid TOML: ", os.str(),
        ascii ? "" : " (toml++ read each non-ASCII character as ~u + 6 hex digits and '~' as ~~: columns count those)");
  }
}

void apply_override(nlohmann::json& root, const std::string& assignment) {
  const auto eq = assignment.find('=');
  SCANLAB_CHECK(eq != std::string::npos && eq > 0, "--set '", assignment, "': expected key=value, e.g. train.lr=3e-4");
  const std::string key = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  nlohmann::json value = text;  // a bare word such as S5 or gpt2, unless it reads as a TOML value
  check_utf8_text(assignment, "--set '" + assignment + "'");
  try {
    value = node_to_json(*parse_toml("v = " + text, "--set")["v"].node(), key);
  } catch (const toml::parse_error&) {
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
