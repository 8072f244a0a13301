// The ranks' shares of an evaluation cover it once, in order; a global batch the ranks cannot share
// is refused naming both numbers. (Training equality with one process: tests/cli/train_dist.sh.)
#include <gtest/gtest.h>

#include <string>

#include "core/check.h"
#include "train/data_parallel.h"

namespace scanlab::train {
namespace {

TEST(DataParallel, ShardsCoverTheRangeOnceInOrder) {
  for (int ranks : {1, 2, 3, 7})
    for (int64_t n : {0, 1, 5, 30, 64}) {
      int64_t next = 0;
      for (int r = 0; r < ranks; ++r) {
        const auto [first, count] = shard_of(n, r, ranks);
        EXPECT_EQ(first, next);
        EXPECT_LE(count, n / ranks + 1);
        next = first + count;
      }
      EXPECT_EQ(next, n);
    }
  EXPECT_NO_THROW(check_batch_divides(12, 3));
  try {
    check_batch_divides(32, 3);
    FAIL() << "32 / 3 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("train.batch_size = 32 is not divisible by the 3 processes"),
              std::string::npos);
  }
}

}  // namespace
}  // namespace scanlab::train
