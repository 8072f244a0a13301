#include "train/run_log.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
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
}  // namespace

const std::vector<std::string>& MetricsLog::columns() {
  static const std::vector<std::string> cols = {"kind",      "stage",    "seq_len", "step",     "global_step",
                                                "lr",        "loss",     "acc",     "grad_norm", "eval_loss",
                                                "eval_acc",  "elapsed_s"};
  return cols;
}

std::vector<nlohmann::json> MetricsLog::read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> records;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) records.push_back(nlohmann::json::parse(line));
  return records;
}

MetricsLog::MetricsLog(const std::string& dir, int64_t keep_until_step)
    : jsonl_path_(dir + "/metrics.jsonl"), csv_path_(dir + "/metrics.csv") {
  std::vector<nlohmann::json> kept;
  if (keep_until_step >= 0 && std::filesystem::exists(jsonl_path_))
    for (auto& r : read_jsonl(jsonl_path_))
      if (r.value("global_step", int64_t{0}) <= keep_until_step) kept.push_back(std::move(r));
  std::string jsonl, csv;
  for (size_t i = 0; i < columns().size(); ++i) csv += (i ? "," : "") + columns()[i];
  csv += "\n";
  write_file_atomically(jsonl_path_, "");
  write_file_atomically(csv_path_, csv);
  for (const auto& r : kept) write(r);
}

void MetricsLog::write(const nlohmann::json& record) {
  std::ofstream jsonl(jsonl_path_, std::ios::app);
  jsonl << record.dump() << "\n";
  std::ofstream csv(csv_path_, std::ios::app);
  for (size_t i = 0; i < columns().size(); ++i) {
    if (i) csv << ",";
    auto it = record.find(columns()[i]);
    if (it == record.end() || it->is_null()) continue;
    if (it->is_string()) csv << it->get<std::string>();
    else if (it->is_number_float()) csv << fmt_double(it->get<double>());
    else csv << it->dump();
  }
  csv << "\n";
  SCANLAB_CHECK(jsonl.good() && csv.good(), "metrics: cannot append to ", jsonl_path_, " or ", csv_path_);
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
