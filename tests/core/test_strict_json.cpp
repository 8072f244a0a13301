// The one strict reader (core/strict_json.h), closed choices as enums (core/enum_names.h) and the
// registry lookup (core/registry.h): every kind of
// bad value names the key, what arrived and what was expected; unknown keys are listed with the known.
#include <gtest/gtest.h>

#include "core/check.h"
#include "core/enum_names.h"
#include "core/registry.h"
#include "core/strict_json.h"
#include "core/text.h"
#include "support/error_of.h"

namespace scanlab {
namespace {

using testing::error_of;

TEST(StrictJson, ReadsEveryKindAndLeavesAbsentKeysAtTheirDefaults) {
  const nlohmann::json j = {{"n", 3},    {"u", 7},          {"x", 0.5},      {"b", true},
                            {"s", "hi"}, {"v", {4, 8, 18}}, {"c", "causal"}, {"p", 0.25}};
  StrictJson r(j, "test config");
  int64_t n = 0, missing = 42;
  uint64_t u = 0;
  double x = 0, p = 0;
  bool b = false;
  std::string s, c;
  std::vector<int64_t> v;
  r.read_in("n", n, 1, 3);
  r.read("u", u);
  r.read_above("x", x, 0.0);
  r.read("b", b);
  r.read("s", s);
  r.read("v", v);
  r.read_choice("c", c, {"bidirectional", "causal"});
  r.read_probability("p", p);
  r.read_at_least("absent", missing, 100);
  EXPECT_NO_THROW(r.finish());
  EXPECT_EQ(n, 3);
  EXPECT_EQ(u, 7u);
  EXPECT_EQ(x, 0.5);
  EXPECT_TRUE(b);
  EXPECT_EQ(s, "hi");
  EXPECT_EQ(v, (std::vector<int64_t>{4, 8, 18}));
  EXPECT_EQ(c, "causal");
  EXPECT_EQ(p, 0.25);
  EXPECT_EQ(missing, 42);
}

TEST(StrictJson, BadValuesNameTheKeyWhatArrivedAndWhatWasExpected) {
  auto message = [](const nlohmann::json& value, auto read) {
    return error_of([&] {
      StrictJson r({{"k", value}}, "config", "train");
      read(r);
    });
  };
  int64_t i = 0;
  uint64_t u = 0;
  double d = 0;
  bool b = false;
  std::string s;
  std::vector<int64_t> v;
  EXPECT_EQ(message(1.5, [&](StrictJson& r) { r.read("k", i); }), "config: 'train.k' is 1.5; expected an integer");
  EXPECT_EQ(message(-1, [&](StrictJson& r) { r.read("k", u); }),
            "config: 'train.k' is -1; expected a non-negative integer");
  EXPECT_NE(message(1e300, [&](StrictJson& r) { r.read("k", d); }).find("expected a finite number within float32's"),
            std::string::npos);
  EXPECT_EQ(message(1, [&](StrictJson& r) { r.read("k", b); }), "config: 'train.k' is 1; expected true or false");
  EXPECT_EQ(message(3, [&](StrictJson& r) { r.read("k", s); }), "config: 'train.k' is 3; expected a string");
  EXPECT_NE(message({1, "x"}, [&](StrictJson& r) { r.read("k", v); }).find("expected an array of integers"),
            std::string::npos);
  EXPECT_EQ(message(0, [&](StrictJson& r) { r.read_at_least("k", i, 1); }),
            "config: 'train.k' is 0; expected an integer >= 1");
  EXPECT_EQ(message(-0.5, [&](StrictJson& r) { r.read_at_least("k", d, 0.0); }),
            "config: 'train.k' is -0.5; expected a finite number >= 0");
  EXPECT_EQ(message(9, [&](StrictJson& r) { r.read_in("k", i, 1, 8); }),
            "config: 'train.k' is 9; expected an integer from 1 to 8");
  EXPECT_EQ(message(0.0, [&](StrictJson& r) { r.read_above("k", d, 0.0); }),
            "config: 'train.k' is 0.0; expected a finite number > 0");
  EXPECT_EQ(message(1.0, [&](StrictJson& r) { r.read_probability("k", d); }),
            "config: 'train.k' is 1.0; expected a number in [0, 1)");
  EXPECT_EQ(message("up",
                    [&](StrictJson& r) {
                      r.read_choice("k", s, {"a", "b"});
                    }),
            "config: 'train.k' is \"up\"; expected one of \"a\", \"b\"");
  EXPECT_EQ(message("gla", [&](StrictJson& r) { r.expect("k", "gpt2"); }),
            "config: 'train.k' is \"gla\"; expected \"gpt2\"");
  // Nothing was written into a field whose value was refused.
  EXPECT_EQ(i, 0);
  EXPECT_EQ(s, "");
}

TEST(StrictJson, UnknownKeysAreListedWithTheKnownOnes) {
  StrictJson r({{"lr", 1e-3}, {"learning_rate", 1}, {"zeta", 2}}, "config", "train");
  double lr = 0;
  r.read("lr", lr);
  r.allow("steps");
  EXPECT_EQ(error_of([&] { r.finish(); }),
            "config: unknown key(s) 'train.learning_rate', 'train.zeta'; known keys in [train]: lr, steps");
  EXPECT_EQ(error_of([] {
              StrictJson({1, 2}, "gpt2 config");
            }),
            "gpt2 config: the configuration must be a JSON object (a table), got [1,2]");
  EXPECT_NO_THROW(StrictJson(nullptr, "config", "eval").finish());  // an absent section reads as empty
}

struct Named {
  std::string name;
  int value;
};

TEST(Registry, FindsByNameOrListsTheKnownNames) {
  const std::vector<Named> registry = {{"a", 1}, {"b", 2}};
  EXPECT_EQ(find_by_name(registry, "b", "widget").value, 2);
  EXPECT_EQ(error_of([&] { find_by_name(registry, "c", "widget"); }), "unknown widget 'c'; known widgets: a, b");
  EXPECT_EQ(error_of([] { find_by_name(std::vector<Named>{}, "c", "widget"); }),
            "unknown widget 'c'; known widgets: (none)");
  EXPECT_EQ(names_of(registry), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(join(std::vector<std::string>{"", "x"}, "+", "'"), "''+'x'");
  EXPECT_EQ(error_of([] { SCANLAB_FAIL("no ", 3, " ways"); }), "no 3 ways");
}

enum class Side { kLeft, kRight };

TEST(EnumNames, ReadsAWordIntoItsEnumWritesItBackAndListsTheWordsOnATypo) {
  const EnumNames<Side> sides{{"left", Side::kLeft}, {"right", Side::kRight}};
  EXPECT_EQ(sides.name(Side::kRight), "right");
  EXPECT_EQ(sides.words(), (std::vector<std::string>{"left", "right"}));
  Side side = Side::kLeft, absent = Side::kRight;
  StrictJson r({{"side", "right"}}, "test config");
  sides.read(r, "side", side);
  sides.read(r, "other", absent);
  r.finish();
  EXPECT_EQ(side, Side::kRight);
  EXPECT_EQ(absent, Side::kRight);  // an absent key keeps the default
  EXPECT_EQ(error_of([&] {
              StrictJson bad({{"side", "up"}}, "test config");
              sides.read(bad, "side", side);
            }),
            "test config: 'side' is \"up\"; expected one of \"left\", \"right\"");
}

}  // namespace
}  // namespace scanlab
