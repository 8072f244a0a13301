// The torchrun variables are read strictly, and a worker's command line drops --nproc and sets its
// threads.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <string>

#include "core/check.h"
#include "dist/launch.h"
#include "dist/world.h"

namespace scanlab::dist {
namespace {

// Sets the variables for the scope of a test and clears the others of the five.
class Env {
 public:
  explicit Env(const std::map<std::string, std::string>& vars) {
    for (const char* name : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"}) {
      if (const char* v = std::getenv(name)) saved_[name] = v;
      ::unsetenv(name);
    }
    for (const auto& [k, v] : vars) ::setenv(k.c_str(), v.c_str(), 1);
  }
  ~Env() {
    for (const char* name : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"}) ::unsetenv(name);
    for (const auto& [k, v] : saved_) ::setenv(k.c_str(), v.c_str(), 1);
  }

 private:
  std::map<std::string, std::string> saved_;
};

std::string error_of(const std::map<std::string, std::string>& vars) {
  Env env(vars);
  try {
    world_from_env();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(World, NoVariablesIsAWorldOfOne) {
  Env env({});
  const World w = world_from_env();
  EXPECT_EQ(w.size, 1);
  EXPECT_FALSE(w.multi());
}

TEST(World, TorchrunVariablesAreRead) {
  Env env(
      {{"RANK", "2"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "0"}, {"MASTER_ADDR", "node7"}, {"MASTER_PORT", "29400"}});
  const World w = world_from_env();
  EXPECT_EQ(w.rank, 2);
  EXPECT_EQ(w.size, 4);
  EXPECT_EQ(w.local_rank, 0);
  EXPECT_EQ(w.master_addr, "node7");
  EXPECT_EQ(w.master_port, 29400);
}

TEST(World, BadVariablesAreNamed) {
  const std::map<std::string, std::string> ok{
      {"RANK", "1"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "29500"}};
  auto with = [&](const std::string& k, const std::string& v) {
    auto m = ok;
    if (v.empty())
      m.erase(k);
    else
      m[k] = v;
    return error_of(m);
  };
  EXPECT_EQ(error_of(ok), "");
  EXPECT_NE(with("MASTER_PORT", "0").find("MASTER_PORT='0' is not valid; expected an integer in 1..65535"),
            std::string::npos);
  EXPECT_NE(with("MASTER_PORT", "65536").find("MASTER_PORT='65536'"), std::string::npos);
  EXPECT_NE(with("MASTER_PORT", "80a").find("MASTER_PORT='80a'"), std::string::npos);
  EXPECT_NE(with("MASTER_PORT", "").find("MASTER_PORT is not set"), std::string::npos);
  EXPECT_NE(with("MASTER_ADDR", "").find("MASTER_ADDR is not set"), std::string::npos);
  EXPECT_NE(with("RANK", "2").find("RANK=2 is outside the world: WORLD_SIZE=2 allows RANK 0..1"), std::string::npos);
  EXPECT_NE(with("RANK", "-1").find("RANK='-1' is not valid"), std::string::npos);
  EXPECT_NE(with("RANK", "").find("RANK is not"), std::string::npos);
  EXPECT_NE(with("WORLD_SIZE", "0").find("WORLD_SIZE='0' is not valid"), std::string::npos);
  EXPECT_NE(with("WORLD_SIZE", "").find("RANK=1 is set but WORLD_SIZE is not"), std::string::npos);
}

TEST(Launch, WorkerArgumentsDropNprocAndSetThreads) {
  const std::vector<std::string> argv{"scanlab", "--threads", "0",     "train", "--config", "a.toml",
                                      "--nproc", "3",         "--set", "x=1",   "--nproc=3"};
  const std::vector<std::string> want{"scanlab", "--threads", "2", "train", "--config", "a.toml", "--set", "x=1"};
  EXPECT_EQ(worker_argv(argv, 2), want);
}

}  // namespace
}  // namespace scanlab::dist
