// What a training run reports: metrics records appended to <out>/metrics.jsonl and <out>/metrics.csv
// (a resumed run first drops records past its checkpoint, so the files read as one uninterrupted
// run), and a one-line progress bar with ETA, loss and accuracy on stderr.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace scanlab::train {

class MetricsLog {
 public:
  // Columns of the CSV, in order; records may leave some empty.
  static const std::vector<std::string>& columns();
  // Opens <dir>/metrics.{jsonl,csv}; keep_until_step >= 0 keeps records with global_step <= it
  // (resume); < 0 starts empty.
  MetricsLog(const std::string& dir, int64_t keep_until_step);
  void write(const nlohmann::json& record);
  static std::vector<nlohmann::json> read_jsonl(const std::string& path);

 private:
  std::string jsonl_path_, csv_path_;
};

class ProgressBar {
 public:
  explicit ProgressBar(bool enabled) : enabled_(enabled) {}
  bool enabled() const { return enabled_; }
  void start_stage(const std::string& label, int64_t first_step, int64_t total_steps);
  void update(int64_t step, double loss, double acc, double lr);
  void finish();

 private:
  bool enabled_;
  std::string label_;
  int64_t first_ = 0, total_ = 0;
  std::chrono::steady_clock::time_point start_;
};

// True when stderr is a terminal.
bool stderr_is_tty();

}  // namespace scanlab::train
