#include "train/run_log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "core/atomic_file.h"
#include "core/check.h"

namespace scanlab::train {
namespace {
std::string fmt_double(double x) {
  std::ostringstream os;
  os.precision(10);
  os << x;
  return os.str();
}

std::string csv_row(const nlohmann::json& record) {
  std::string row;
  const auto& cols = MetricsLog::columns();
  for (size_t i = 0; i < cols.size(); ++i) {
    if (i) row += ",";
    auto it = record.find(cols[i]);
    if (it == record.end() || it->is_null()) continue;
    if (it->is_string())
      row += it->get<std::string>();
    else if (it->is_number_float())
      row += fmt_double(it->get<double>());
    else
      row += it->dump();
  }
  return row + "\n";
}
}  // namespace

const std::vector<std::string>& MetricsLog::columns() {
  static const std::vector<std::string> cols = {"kind", "stage", "seq_len",   "step",      "global_step", "lr",
                                                "loss", "acc",   "grad_norm", "eval_loss", "eval_acc",    "elapsed_s"};
  return cols;
}

std::vector<nlohmann::json> MetricsLog::read_jsonl(const std::string& path) {
  // A run killed (or out of disk) mid-append leaves a partial last line, without its newline:
  // dropped with a warning, so the run can resume and be plotted. A bad line anywhere else, or a
  // bad last line that ends in a newline (nothing cut it short), is an error naming file and line.
  const std::string text = read_file(path);
  const bool cut_short = !text.empty() && text.back() != '\n';
  std::istringstream in(text);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  std::vector<nlohmann::json> records;
  for (size_t i = 0; i < lines.size(); ++i) {
    try {
      records.push_back(nlohmann::json::parse(lines[i]));
    } catch (const nlohmann::json::exception& e) {
      SCANLAB_CHECK(i + 1 == lines.size() && cut_short, path, ": line ", i + 1, " of ", lines.size(), " is not JSON (",
                    e.what(), "); expected one metrics record per line");
      std::cerr << "scanlab: warning: " << path << ": dropped a truncated last line (line " << i + 1
                << "), as a run stopped mid-write leaves it\n";
    }
  }
  return records;
}

MetricsLog::MetricsLog(const std::string& dir, int64_t keep_until_step)
    : jsonl_path_(dir + "/metrics.jsonl"), csv_path_(dir + "/metrics.csv") {
  // One run at a time in a directory: two resumes of one run would both append to its metrics.
  const std::string lock_path = dir + "/.scanlab.lock";
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  SCANLAB_CHECK(lock_fd_ >= 0, "cannot open '", lock_path, "': ", std::strerror(errno));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock_fd_);
    lock_fd_ = -1;
    SCANLAB_FAIL("run directory '", dir, "' is in use by another scanlab process (", lock_path,
                 " is locked); wait for it to finish or use another train.out_dir");
  }
  std::string jsonl, csv;
  for (size_t i = 0; i < columns().size(); ++i) csv += (i ? "," : "") + columns()[i];
  csv += "\n";
  if (keep_until_step >= 0 && std::filesystem::exists(jsonl_path_))
    for (const auto& r : read_jsonl(jsonl_path_))
      if (r.value("global_step", int64_t{0}) <= keep_until_step) {
        jsonl += r.dump() + "\n";
        csv += csv_row(r);
      }
  // Each file is replaced whole: a kill during the rewrite leaves the old records, never none.
  write_file_atomically(jsonl_path_, jsonl);
  write_file_atomically(csv_path_, csv);
}

MetricsLog::~MetricsLog() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the lock
}

void MetricsLog::write(const nlohmann::json& record) {
  // Flushed and checked here, not at the streams' destruction: a full disk is an error at this
  // record, not a silent loss.
  std::ofstream jsonl(jsonl_path_, std::ios::app);
  jsonl << record.dump() << "\n";
  jsonl.flush();
  std::ofstream csv(csv_path_, std::ios::app);
  csv << csv_row(record);
  csv.flush();
  SCANLAB_CHECK(jsonl.good() && csv.good(), "metrics: cannot append to ", jsonl_path_, " or ", csv_path_,
                " (is the disk full?)");
}

bool stderr_is_tty() { return ::isatty(2) == 1; }

void ProgressBar::start_stage(const std::string& label, int64_t first_step, int64_t total_steps) {
  label_ = label;
  first_ = first_step;
  total_ = total_steps;
  start_ = std::chrono::steady_clock::now();
}

void ProgressBar::update(int64_t step, double loss, double acc, double lr) {
  if (!enabled_) return;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const int64_t done = step - first_;
  const double eta = done > 0 ? elapsed / static_cast<double>(done) * static_cast<double>(total_ - step) : 0;
  const int width = 24;
  const int filled = total_ > 0 ? static_cast<int>(width * step / total_) : width;
  char buf[256];
  std::snprintf(buf, sizeof buf, "\r%s [%s%s] %lld/%lld  loss %.4f  acc %.3f  lr %.2e  ETA %dm%02ds ", label_.c_str(),
                std::string(static_cast<size_t>(filled), '=').c_str(),
                std::string(static_cast<size_t>(width - filled), ' ').c_str(), static_cast<long long>(step),
                static_cast<long long>(total_), loss, acc, lr, static_cast<int>(eta) / 60, static_cast<int>(eta) % 60);
  std::cerr << buf << std::flush;
}

void ProgressBar::finish() {
  if (enabled_) std::cerr << "\n";
}

}  // namespace scanlab::train
