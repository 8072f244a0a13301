// core/atomic_file: what is not a regular file is neither replaced nor read to its (absent) end, a
// pipe is read up to its end, and temporaries that killed writers left behind are cleaned up.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "core/atomic_file.h"
#include "core/check.h"
#include "support/error_of.h"
#include "support/temp_dir.h"

namespace scanlab {
namespace {
namespace fs = std::filesystem;

using scanlab::testing::error_of;

fs::path fresh_dir(const std::string& name) { return scanlab::testing::fresh_temp_dir("atomic_" + name); }

TEST(AtomicFile, WritesNeverReplaceWhatIsNotARegularFile) {
  const fs::path dir = fresh_dir("targets");
  const fs::path fifo = dir / "pipe", sub = dir / "folder";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  fs::create_directories(sub);
  for (const fs::path& target : {fifo, sub}) {
    const std::string e = error_of([&] { write_file_atomically(target.string(), "x"); });
    EXPECT_NE(e.find("it exists and is not a regular file"), std::string::npos) << e;
    EXPECT_NE(e.find(target.string()), std::string::npos) << e;
  }
  EXPECT_TRUE(fs::is_fifo(fifo));
  EXPECT_TRUE(fs::is_directory(sub));
  // A regular file is replaced, a new one created.
  write_file_atomically((dir / "new").string(), "one");
  write_file_atomically((dir / "new").string(), "two");
  EXPECT_EQ(read_file((dir / "new").string()), "two");
  fs::remove_all(dir);
}

TEST(AtomicFile, ReadsRefuseDevicesAndDirectoriesAndTakeAPipeToItsEnd) {
  std::string e = error_of([] { read_file("/dev/zero"); });
  EXPECT_NE(e.find("'/dev/zero': it is a device or socket; expected a regular file"), std::string::npos) << e;
  const fs::path dir = fresh_dir("reads");
  e = error_of([&] { read_file(dir.string()); });
  EXPECT_NE(e.find("it is a directory"), std::string::npos) << e;
  const fs::path fifo = dir / "pipe";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::thread writer([&] { std::ofstream(fifo) << "1 2 3"; });
  EXPECT_EQ(read_file(fifo.string()), "1 2 3");
  writer.join();
  fs::remove_all(dir);
}

TEST(AtomicFile, TemporariesOfDeadWritersAreRemovedOnTheNextWrite) {
  const fs::path dir = fresh_dir("stale");
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);  // reaped: that pid names no process now
  const fs::path target = dir / "checkpoint.safetensors";
  const fs::path dead = dir / ("checkpoint.safetensors.tmp-" + std::to_string(child));
  const fs::path alive = dir / "checkpoint.safetensors.tmp-1";  // pid 1 is always running
  const fs::path other = dir / ("other.safetensors.tmp-" + std::to_string(child));
  for (const auto& p : {dead, alive, other}) std::ofstream(p) << "partial";
  write_file_atomically(target.string(), "whole");
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_TRUE(fs::exists(alive));  // a writer that may still be at work is left alone
  EXPECT_TRUE(fs::exists(other));  // another file's temporaries are not this write's business
  EXPECT_EQ(read_file(target.string()), "whole");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace scanlab
