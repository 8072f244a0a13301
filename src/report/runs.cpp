#include "report/runs.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/atomic_file.h"
#include "core/check.h"
#include "models/registry.h"

namespace scanlab::report {
namespace fs = std::filesystem;

namespace {

constexpr const char* kMetricsFile = "metrics.jsonl";
constexpr const char* kMetricsSuffix = ".metrics.jsonl";

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A token "<prefix><digits>" -> the number, else 0.
int64_t number_after(const std::string& token, char prefix) {
  if (token.size() < 2 || token[0] != prefix) return 0;
  for (size_t i = 1; i < token.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(token[i]))) return 0;
  return std::stoll(token.substr(1));
}

nlohmann::json parse_json_file(const std::string& path) {
  const std::string text = read_file(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    SCANLAB_FAIL(path, ": malformed JSON (", e.what(), ")");
  }
  return {};
}

// The "__metadata__" of a safetensors file, reading only its header (checkpoints can be large).
std::map<std::string, std::string> safetensors_metadata(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  SCANLAB_CHECK(in.good(), path, ": cannot be read");
  unsigned char len_bytes[8] = {};
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  SCANLAB_CHECK(in.gcount() == 8, path, ": not a safetensors file (shorter than its 8-byte header length)");
  uint64_t len = 0;
  for (int i = 0; i < 8; ++i) len |= static_cast<uint64_t>(len_bytes[i]) << (8 * i);
  SCANLAB_CHECK(len <= (100ull << 20), path, ": not a safetensors file (header length ", len, ")");
  std::string header(len, '\0');
  in.read(header.data(), static_cast<std::streamsize>(len));
  SCANLAB_CHECK(static_cast<uint64_t>(in.gcount()) == len, path, ": truncated safetensors header");
  std::map<std::string, std::string> out;
  try {
    const auto j = nlohmann::json::parse(header);
    if (j.contains("__metadata__"))
      for (const auto& [k, v] : j.at("__metadata__").items())
        if (v.is_string()) out[k] = v.get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    SCANLAB_FAIL(path, ": safetensors header is not JSON (", e.what(), ")");
  }
  return out;
}

// experiment.json beside the metrics, else the experiment a checkpoint there recorded, else the name.
RunMeta meta_of_training_run(const fs::path& metrics, const std::string& name) {
  const fs::path dir = metrics.parent_path();
  if (metrics.filename() == kMetricsFile) {
    if (fs::exists(dir / "experiment.json")) {
      const std::string path = (dir / "experiment.json").string();
      try {
        return meta_from_experiment(parse_json_file(path), "experiment.json");
      } catch (const std::exception& e) {
        SCANLAB_FAIL(path, ": not the experiment `scanlab train` writes (", e.what(), ")");
      }
    }
    if (fs::exists(dir / "checkpoint.safetensors")) {
      const auto meta = safetensors_metadata((dir / "checkpoint.safetensors").string());
      const auto it = meta.find("scanlab.train.experiment");
      if (it != meta.end()) {
        try {
          return meta_from_experiment(nlohmann::json::parse(it->second), "checkpoint");
        } catch (const std::exception& e) {
          SCANLAB_FAIL((dir / "checkpoint.safetensors").string(), ": bad experiment metadata (", e.what(), ")");
        }
      }
    }
  }
  return meta_from_name(name);
}

std::vector<Point>& series_of(TrainingRun& run, const std::string& key) {
  if (key == "loss") return run.loss;
  if (key == "acc") return run.acc;
  if (key == "eval_loss") return run.eval_loss;
  return run.eval_acc;
}

TrainingRun read_training_run(const fs::path& path, const std::string& shown) {
  TrainingRun run;
  const std::string file = path.filename().string();
  run.name = file == kMetricsFile ? path.parent_path().filename().string()
                                  : file.substr(0, file.size() - std::string(kMetricsSuffix).size());
  run.path = shown;
  run.meta = meta_of_training_run(path, run.name);
  const auto records = read_jsonl_strict(path.string());
  for (size_t i = 0; i < records.size(); ++i) {
    const auto& r = records[i];
    const auto step = r.find("global_step");
    SCANLAB_CHECK(step != r.end() && step->is_number(), shown, " line ", i + 1,
                  ": no numeric global_step; expected a metrics record of `scanlab train`");
    const double s = step->get<double>();
    for (const char* key : {"loss", "acc", "eval_loss", "eval_acc"})
      if (r.contains(key) && r[key].is_number()) series_of(run, key).push_back({s, r[key].get<double>()});
    run.last_step = std::max(run.last_step, static_cast<int64_t>(s));
    if (r.contains("seq_len") && r["seq_len"].is_number_integer()) run.last_seq_len = r["seq_len"].get<int64_t>();
    if (r.contains("elapsed_s") && r["elapsed_s"].is_number()) run.elapsed_s = r["elapsed_s"].get<double>();
  }
  if (run.meta.seq_len == 0) run.meta.seq_len = run.last_seq_len;
  run.meta.steps = run.last_step;
  return run;
}

EvalSet read_eval_set(const fs::path& path, const std::string& shown, const std::vector<TrainingRun>& training) {
  const auto j = parse_json_file(path.string());
  SCANLAB_CHECK(j.is_array(), shown, ": expected the JSON array that `scanlab eval --out` writes");
  EvalSet set{shown, {}};
  for (size_t i = 0; i < j.size(); ++i) {
    const auto& r = j[i];
    try {
      EvalRow row;
      row.model = r.at("model").get<std::string>();
      row.length = r.at("length").get<int64_t>();
      row.scored = r.at("scored").get<int64_t>();
      row.loss = r.at("loss").get<double>();
      row.accuracy = r.at("accuracy").get<double>();
      row.perplexity = r.at("perplexity").get<double>();
      // The run of that name under this eval.json's folder, else any run of that name.
      const std::string folder = fs::path(shown).parent_path().string();
      const auto named = [&](bool here) {
        return std::find_if(training.begin(), training.end(), [&](const TrainingRun& t) {
          return t.name == row.model && (!here || folder.empty() || t.path.rfind(folder + "/", 0) == 0);
        });
      };
      auto run = named(true);
      if (run == training.end()) run = named(false);
      row.meta = run != training.end() ? run->meta : meta_from_name(row.model);
      set.rows.push_back(std::move(row));
    } catch (const nlohmann::json::exception& e) {
      SCANLAB_FAIL(shown, ": entry ", i, " lacks a field of `scanlab eval` (", e.what(), ")");
    }
  }
  return set;
}

NarStudy read_nar_study(const fs::path& path, const std::string& shown) {
  NarStudy study{shown, {}};
  std::istringstream lines(read_file(path.string()));
  std::string line;
  for (int64_t n = 1; std::getline(lines, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      study.runs.push_back(nar::study::result_from_json(line));
    } catch (const Error& e) {
      SCANLAB_FAIL(shown, " line ", n, ": ", e.what());
    }
  }
  return study;
}

// A JSON array of `bench decode -o json` rows; anything else named decode.json is an error.
DecodeSet read_decode_set(const fs::path& path, const std::string& shown) {
  const auto j = parse_json_file(path.string());
  SCANLAB_CHECK(j.is_array(), shown, ": expected the JSON array of `scanlab bench decode -o json`");
  DecodeSet set{shown, {}};
  for (size_t i = 0; i < j.size(); ++i) {
    const auto& r = j[i];
    try {
      DecodeRow row;
      row.model = r.at("model").get<std::string>();
      row.device = r.value("device", "");
      row.dtype = r.value("dtype", "");
      row.width = r.value("width", int64_t{0});
      row.depth = r.value("depth", int64_t{0});
      row.batch = r.value("batch", int64_t{0});
      row.window_end = r.at("window_end").get<std::vector<int64_t>>();
      row.p50_ms = r.at("p50_ms").get<std::vector<double>>();
      row.state_bytes = r.at("state_bytes").get<std::vector<int64_t>>();
      SCANLAB_CHECK(row.p50_ms.size() == row.window_end.size() && row.state_bytes.size() == row.window_end.size(),
                    shown, ": entry ", i, " has ", row.window_end.size(), " window ends but ", row.p50_ms.size(),
                    " latencies and ", row.state_bytes.size(), " state sizes");
      set.rows.push_back(std::move(row));
    } catch (const nlohmann::json::exception& e) {
      SCANLAB_FAIL(shown, ": entry ", i, " lacks a field of `bench decode -o json` (", e.what(), ")");
    }
  }
  return set;
}

}  // namespace

RunMeta meta_from_name(const std::string& name) {
  RunMeta m;
  m.source = "name";
  std::vector<std::string> tokens;
  std::stringstream ss(name);
  for (std::string t; std::getline(ss, t, '_');) tokens.push_back(t);
  if (!tokens.empty()) {
    const std::string first = lower(tokens.front());
    if (first == "mqar" || first == "lm" || number_after(first, 's') > 0 || number_after(first, 'a') > 0 ||
        number_after(first, 'z') > 0 || first == "parity")
      m.task = first;
  }
  for (const auto& t : tokens) {
    if (number_after(t, 'c') > 0) m.chunk = number_after(t, 'c');
    if (number_after(t, 'T') > 0) m.seq_len = number_after(t, 'T');
  }
  // The longest registry name in the name, so mamba2 is not read as mamba.
  const std::string low = lower(name);
  for (const auto& model : models::model_names())
    if (low.find(model) != std::string::npos && model.size() > m.model.size()) m.model = model;
  static const std::map<std::string, std::string> aliases = {
      {"tpsm", "transformer_psm"}, {"psm", "transformer_psm"}, {"swa", "sliding_window"}, {"gdn", "gated_deltanet"}};
  if (m.model.empty())
    for (const auto& t : tokens)
      if (aliases.count(lower(t))) m.model = aliases.at(lower(t));
  return m;
}

RunMeta meta_from_experiment(const nlohmann::json& e, const std::string& source) {
  SCANLAB_CHECK(e.is_object(), "an experiment is a JSON object, got ", e.type_name());
  RunMeta m;
  m.source = source;
  const auto task = e.value("task", nlohmann::json::object());
  const std::string kind = task.value("kind", "");
  m.task = kind == "word_problem" ? lower(task.value("group", "S5")) : kind;
  const auto model = e.value("model", nlohmann::json::object());
  m.model = model.value("model", "");
  if (m.model == "transformer_psm") m.chunk = model.value("chunk_size", int64_t{64});
  m.seq_len = task.value("seq_len", int64_t{0});
  const auto train = e.value("train", nlohmann::json::object());
  if (train.contains("curriculum") && train["curriculum"].is_array() && !train["curriculum"].empty())
    m.seq_len = train["curriculum"].back().get<int64_t>();
  return m;
}

std::vector<nlohmann::json> read_jsonl_strict(const std::string& path) {
  std::istringstream lines(read_file(path));
  std::vector<nlohmann::json> out;
  std::string line;
  for (int64_t n = 1; std::getline(lines, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      SCANLAB_FAIL(path, " line ", n, ": malformed JSON (", e.what(), ")");
    }
    SCANLAB_CHECK(j.is_object(), path, " line ", n, ": expected a JSON object, got ", j.type_name());
    out.push_back(std::move(j));
  }
  return out;
}

RunSet discover_runs(const std::vector<std::string>& dirs, const std::string& exclude) {
  SCANLAB_CHECK(!dirs.empty(), "report: give at least one --runs folder");
  std::error_code ec;
  const fs::path excluded = exclude.empty() ? fs::path() : fs::weakly_canonical(exclude, ec);
  struct Found {
    fs::path path;
    std::string shown;
  };
  std::vector<Found> metrics, evals, studies, decodes;
  for (const auto& dir : dirs) {
    SCANLAB_CHECK(fs::exists(dir, ec), "report: run folder '", dir, "' does not exist");
    SCANLAB_CHECK(fs::is_directory(dir, ec), "report: run folder '", dir, "' is not a folder");
    std::vector<fs::path> files;
    fs::recursive_directory_iterator it(dir, ec), end;
    SCANLAB_CHECK(!ec, "report: run folder '", dir, "' cannot be read (", ec.message(), ")");
    for (; it != end; it.increment(ec)) {
      SCANLAB_CHECK(!ec, "report: run folder '", dir, "' cannot be read (", ec.message(), ")");
      const fs::path p = it->path();
      const bool hidden = p.filename().string().rfind('.', 0) == 0;
      if (hidden || (!excluded.empty() && fs::weakly_canonical(p, ec) == excluded)) {
        if (it->is_directory(ec)) it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file(ec)) files.push_back(p);
    }
    std::sort(files.begin(), files.end());
    for (const auto& p : files) {
      const std::string file = p.filename().string();
      const std::string shown = (fs::path(dir) / fs::relative(p, dir, ec)).lexically_normal().generic_string();
      if (file == kMetricsFile || ends_with(file, kMetricsSuffix))
        metrics.push_back({p, shown});
      else if (file == "eval.json")
        evals.push_back({p, shown});
      else if (file == "results.jsonl")
        studies.push_back({p, shown});
      else if (file == "decode.json")
        decodes.push_back({p, shown});
    }
  }
  RunSet set;
  for (const auto& f : metrics) set.training.push_back(read_training_run(f.path, f.shown));
  for (const auto& f : evals) set.evals.push_back(read_eval_set(f.path, f.shown, set.training));
  for (const auto& f : studies) set.nar.push_back(read_nar_study(f.path, f.shown));
  for (const auto& f : decodes) set.decode.push_back(read_decode_set(f.path, f.shown));
  return set;
}

}  // namespace scanlab::report
