// The run files `scanlab report` reads, found by walking the --runs folders: training runs
// (metrics.jsonl or <name>.metrics.jsonl, described by experiment.json or checkpoint.safetensors
// beside it, else by their name), `scanlab eval` outputs (eval.json), NAR studies (results.jsonl of
// `nar compare`) and decode benchmarks (decode.json of `bench decode --plot-dir`, or its `-o json`).
// Every malformed file is a scanlab::Error naming the file (and line, for JSONL).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "nar/study/train_eval.h"

namespace scanlab::report {

// What a run is. From the experiment it recorded when there is one, else read off its name:
// tokens split at '_': the task is the first token (mqar, lm, or a group such as s5 / s3), `c<N>` the
// chunk size, `T<N>` the training length, and the model the longest registry name (or alias tpsm,
// psm, swa, gdn) found in the name.
struct RunMeta {
  std::string task;     // mqar | lm | s5, s3, ... (word problems: the group, lower case) | "" unknown
  std::string model;    // registry name, "" unknown
  int64_t chunk = 0;    // T-PSM chunk size; 0 unknown or not a T-PSM
  int64_t seq_len = 0;  // training length (the last curriculum stage); 0 unknown
  int64_t steps = 0;    // training steps the run logged (its last global_step); 0 unknown
  std::string source;   // experiment.json | checkpoint | name
};
RunMeta meta_from_name(const std::string& name);
// From an experiment's merged JSON (the "scanlab.train.experiment" checkpoint metadata, experiment.json).
RunMeta meta_from_experiment(const nlohmann::json& experiment, const std::string& source);

struct Point {
  double step, value;
};

struct TrainingRun {
  std::string name, path;  // path: the metrics file, as reached from the --runs argument
  RunMeta meta;
  std::vector<Point> loss, acc, eval_loss, eval_acc;
  int64_t last_step = 0;
  int64_t last_seq_len = 0;  // of the last record (the curriculum's stage reached)
  double elapsed_s = -1;     // of the last record; < 0 unknown
};

struct EvalRow {
  std::string model;  // the experiment name `scanlab eval` recorded
  int64_t length = 0, scored = 0;
  double loss = 0, accuracy = 0, perplexity = 0;
  RunMeta meta;  // of the training run of that name when one was found, else from the name
};
struct EvalSet {
  std::string path;
  std::vector<EvalRow> rows;
};

struct NarStudy {
  std::string path;
  std::vector<nar::study::TrainResult> runs;
};

struct DecodeRow {
  std::string model, device, dtype;
  int64_t width = 0, depth = 0, batch = 0;
  std::vector<int64_t> window_end, state_bytes;
  std::vector<double> p50_ms;
};
struct DecodeSet {
  std::string path;
  std::vector<DecodeRow> rows;
};

struct RunSet {
  std::vector<TrainingRun> training;
  std::vector<EvalSet> evals;
  std::vector<NarStudy> nar;
  std::vector<DecodeSet> decode;
};

// Walks each folder (sorted, so the report is the same on every machine), skipping `exclude` (the
// report's own output folder) and hidden entries. A folder that is missing, not a folder or not
// readable is an error naming it.
RunSet discover_runs(const std::vector<std::string>& dirs, const std::string& exclude = "");

// Every JSON line of a file (blank lines skipped); a line that is not a JSON object is an error
// "<path> line <n>: ...".
std::vector<nlohmann::json> read_jsonl_strict(const std::string& path);

}  // namespace scanlab::report
