// The metrics log of a run: a truncated last line (a run killed mid-append) is dropped with a warning
// while a bad line elsewhere names its file and line; one process at a time owns a run directory;
// a write that cannot reach the disk is an error, not a silent loss.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/check.h"
#include "support/error_of.h"
#include "support/temp_dir.h"
#include "train/run_log.h"

namespace scanlab::train {
namespace {
namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& name) { return scanlab::testing::fresh_temp_dir("metrics_" + name); }

TEST(MetricsLog, TruncatedLastLineIsDroppedAndABadMiddleLineNamed) {
  const fs::path dir = fresh_dir("truncated");
  {
    MetricsLog log(dir.string(), -1);
    for (int step = 1; step <= 3; ++step) log.write({{"kind", "train"}, {"global_step", step}, {"loss", 1.0 / step}});
  }
  const std::string path = (dir / "metrics.jsonl").string();
  std::ofstream(path, std::ios::app) << "{\"kind\": \"tra";  // the partial line a kill -9 leaves
  EXPECT_EQ(MetricsLog::read_jsonl(path).size(), 3u);
  {  // a resumed run keeps the whole records and goes on appending
    MetricsLog resumed(dir.string(), 3);
    resumed.write({{"kind", "train"}, {"global_step", 4}, {"loss", 0.2}});
  }
  const auto records = MetricsLog::read_jsonl(path);
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records.back()["global_step"], 4);
  std::ofstream(path) << "{\"global_step\": 1}\nnot json\n{\"global_step\": 3}\n";
  try {
    MetricsLog::read_jsonl(path);
    FAIL() << "a bad middle line was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path + ": line 2 of 3 is not JSON"), std::string::npos) << e.what();
  }
  // A whole last line (its newline written) that is not JSON was not cut short by a kill: an error.
  std::ofstream(path) << "{\"global_step\": 1}\n{\"loss\": 1, \"x\": \"\xff\"}\n";
  const std::string err = scanlab::testing::error_of([&] { MetricsLog::read_jsonl(path); });
  EXPECT_NE(err.find(path + ": line 2 of 2 is not JSON"), std::string::npos)
      << "a whole bad last line was dropped: " << err;
  fs::remove_all(dir);
}

TEST(MetricsLog, OneProcessAtATimeOwnsARunDirectory) {
  const fs::path dir = fresh_dir("lock");
  {
    MetricsLog first(dir.string(), -1);
    try {
      MetricsLog second(dir.string(), -1);
      FAIL() << "two logs of one run directory at once";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("is in use by another scanlab process"), std::string::npos) << e.what();
    }
  }
  EXPECT_NO_THROW(MetricsLog(dir.string(), -1));  // released with the first
  fs::remove_all(dir);
}

TEST(MetricsLog, AWriteThatCannotReachTheDiskIsAnError) {
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  const fs::path dir = fresh_dir("full");
  MetricsLog log(dir.string(), -1);
  fs::remove(dir / "metrics.jsonl");
  fs::create_symlink("/dev/full", dir / "metrics.jsonl");  // every write fails with ENOSPC
  try {
    log.write({{"kind", "train"}, {"global_step", 1}});
    FAIL() << "a failed write passed silently";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot append"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace scanlab::train
