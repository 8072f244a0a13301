// The fuzz targets' regression replay (fuzz/README.md): every committed input of every target, the
// seed corpus scanlab writes and the inputs that once found a fault, runs through the same entry point
// the libFuzzer build calls. A clean refusal passes; any other exception fails here, and a crash or a
// sanitizer report would end the run. SCANLAB_WRITE_FUZZ_SEEDS=1 rewrites fuzz/corpus/ from fuzz_seeds().
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "fuzz_targets.h"

namespace scanlab::fuzz {
namespace {

namespace fs = std::filesystem;

const fs::path kFuzzDir = fs::path(SCANLAB_SOURCE_DIR) / "fuzz";

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

int run(const FuzzTarget& t, const std::string& bytes) {
  return t.entry(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

// Seeds are parsed or refused; every input under regressions/ is a known-bad one and must be refused.
TEST(FuzzReplay, EveryCommittedInputIsParsedOrRefusedCleanly) {
  for (const FuzzTarget& t : fuzz_targets()) {
    int64_t inputs = 0, refused = 0;
    for (const char* kind : {"corpus", "regressions"}) {
      const fs::path dir = kFuzzDir / kind / t.name;
      if (!fs::is_directory(dir)) continue;
      for (const auto& file : fs::directory_iterator(dir)) {
        ++inputs;
        EXPECT_NO_THROW(run(t, read_bytes(file.path()))) << file.path();
        refused += last_refusal().empty() ? 0 : 1;
        if (std::string(kind) == "regressions" && (t.name != "gpt2_bpe" || gpt2_bpe_available()))
          EXPECT_FALSE(last_refusal().empty()) << file.path() << ": a known-bad input was accepted";
      }
    }
    std::cout << "[ replay ] " << t.name << ": " << inputs << " inputs, " << refused << " refused\n";
    EXPECT_GT(inputs, 0) << "no committed inputs for fuzz target " << t.name;
    EXPECT_TRUE(fs::is_regular_file(kFuzzDir / "dict" / (t.name + ".dict"))) << t.name << " has no dictionary";
  }
  if (!gpt2_bpe_available())
    std::cout << "[ note ] gpt2_bpe replay ran without its vocabulary (scripts/fetch_data.sh)\n";
}

TEST(FuzzReplay, TheSeedsScanlabWritesAreParsedOrRefusedCleanly) {
  const bool write = std::getenv("SCANLAB_WRITE_FUZZ_SEEDS") != nullptr;
  for (const FuzzTarget& t : fuzz_targets()) {
    const auto seeds = fuzz_seeds(t.name);
    EXPECT_FALSE(seeds.empty()) << t.name;
    for (size_t i = 0; i < seeds.size(); ++i) {
      EXPECT_NO_THROW(run(t, seeds[i])) << t.name << " seed " << i;
      if (!write) continue;
      fs::create_directories(kFuzzDir / "corpus" / t.name);
      std::ofstream(kFuzzDir / "corpus" / t.name / ("seed-" + std::to_string(i)), std::ios::binary) << seeds[i];
    }
  }
}

}  // namespace
}  // namespace scanlab::fuzz
