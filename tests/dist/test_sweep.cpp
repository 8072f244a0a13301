// The sweep's jobs file and device list: what is read, and the errors that name the file and line.
#include <gtest/gtest.h>

#include <fstream>

#include "core/check.h"
#include "dist/sweep.h"
#include "support/error_of.h"
#include "support/temp_dir.h"

namespace scanlab::dist {
namespace {

std::string jobs_file(const std::string& name, const std::string& text) {
  const auto path = testing::fresh_temp_dir("sweep_" + name) / "jobs.txt";
  std::ofstream(path) << text;
  return path.string();
}

using testing::error_of;

TEST(SweepJobs, WordsQuotesCommentsAndTheProgramName) {
  const auto jobs = read_sweep_jobs(jobs_file("words",
                                              "# a study\n\n  train --config a.toml --set 'name=\"x y\"'\n"
                                              "scanlab nar compare --pair sort \"--out-dir\" runs/a\t--seed 3\n"));
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0].line, 3);
  EXPECT_EQ(jobs[0].args, (std::vector<std::string>{"train", "--config", "a.toml", "--set", "name=\"x y\""}));
  EXPECT_EQ(jobs[0].text, "train --config a.toml --set 'name=\"x y\"'");
  EXPECT_EQ(jobs[1].line, 4);
  EXPECT_EQ(jobs[1].args,
            (std::vector<std::string>{"nar", "compare", "--pair", "sort", "--out-dir", "runs/a", "--seed", "3"}));
}

TEST(SweepJobs, BadFilesAreNamedWithTheLine) {
  const auto unclosed = jobs_file("unclosed", "train --config a.toml\ntrain --set 'name=x\n");
  EXPECT_NE(error_of([&] { read_sweep_jobs(unclosed); }).find(unclosed + " line 2: a quote (') is not closed"),
            std::string::npos);
  const auto nested = jobs_file("nested", "scanlab sweep --jobs other.txt --log-dir x\n");
  EXPECT_NE(error_of([&] { read_sweep_jobs(nested); }).find("line 1: a job may not be a sweep itself"),
            std::string::npos);
  const auto empty = jobs_file("empty", "# nothing\n\n");
  EXPECT_NE(error_of([&] { read_sweep_jobs(empty); }).find(empty + ": no jobs"), std::string::npos);
  EXPECT_NE(error_of([&] { read_sweep_jobs("/nonexistent/jobs.txt"); }).find("cannot read the jobs file"),
            std::string::npos);
}

TEST(SweepDevices, CpuAllAndListsChecked) {
  EXPECT_EQ(parse_sweep_devices("cpu", 0), (std::vector<std::string>{"cpu"}));
  EXPECT_EQ(parse_sweep_devices("all", 2), (std::vector<std::string>{"cuda:0", "cuda:1"}));
  EXPECT_EQ(parse_sweep_devices("cuda:1,0", 2), (std::vector<std::string>{"cuda:1", "cuda:0"}));
  EXPECT_NE(error_of([] { parse_sweep_devices("all", 0); }).find("no CUDA device"), std::string::npos);
  EXPECT_NE(error_of([] { parse_sweep_devices("cuda:2", 2); }).find("cuda:2 does not exist; this host has 2"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_sweep_devices("gpu0", 4); }).find("'gpu0' is not a device"), std::string::npos);
  EXPECT_NE(error_of([] { parse_sweep_devices("cuda:-1", 4); }).find("is not a device"), std::string::npos);
}

}  // namespace
}  // namespace scanlab::dist
