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
  // (resume); < 0 starts empty. Holds an exclusive lock on <dir>/.scanlab.lock while it lives, and
  // throws if another process holds it.
  MetricsLog(const std::string& dir, int64_t keep_until_step);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;
  // Appends one record to both files; throws if it cannot be written whole (a full disk).
  void write(const nlohmann::json& record);
  // Every record; a truncated last line is dropped with a warning on stderr, a bad line elsewhere
  // throws naming the file and line.
  static std::vector<nlohmann::json> read_jsonl(const std::string& path);

 private:
  std::string jsonl_path_, csv_path_;
  int lock_fd_ = -1;
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
