// safetensors round trips for every dtype, and corrupt or truncated files as clear errors.
#include <gtest/gtest.h>

#include <unistd.h>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/atomic_file.h"
#include "core/check.h"
#include "io/safetensors.h"

namespace scanlab::io {
namespace {

Safetensors sample() {
  Safetensors st;
  st.tensors["f64"] = at::randn({3, 2}, at::kDouble);
  st.tensors["f32"] = at::randn({4}, at::kFloat);
  st.tensors["bf16"] = at::randn({2, 2, 2}, at::kFloat).to(at::kBFloat16);
  st.tensors["f16"] = at::randn({5}, at::kFloat).to(at::kHalf);
  st.tensors["i64"] = at::arange(6, at::kLong).reshape({2, 3});
  st.tensors["i32"] = at::arange(3, at::kInt);
  st.tensors["u8"] = at::arange(7, at::kByte);
  st.tensors["bool"] = at::arange(4, at::kLong).gt(1);
  st.tensors["empty"] = at::zeros({0, 3}, at::kFloat);
  st.tensors["scalar"] = at::full({}, 2.5, at::kFloat);
  st.metadata["config"] = R"({"d": 8})";
  return st;
}

std::string error_of(const std::string& bytes) {
  try {
    decode_safetensors(bytes, "bad.safetensors");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Safetensors, RoundTripKeepsEveryDtypeShapeValueAndMetadata) {
  Safetensors st = sample();
  std::string bytes = encode_safetensors(st);
  Safetensors back = decode_safetensors(bytes, "memory");
  EXPECT_EQ(back.metadata, st.metadata);
  ASSERT_EQ(back.tensors.size(), st.tensors.size());
  for (const auto& [name, t] : st.tensors) {
    ASSERT_TRUE(back.tensors.count(name)) << name;
    const at::Tensor& u = back.tensors.at(name);
    EXPECT_EQ(u.scalar_type(), t.scalar_type()) << name;
    EXPECT_EQ(u.sizes(), t.sizes()) << name;
    EXPECT_TRUE(at::equal(u, t)) << name;
  }
}

TEST(Safetensors, HeaderIsPlainJsonWithHuggingFaceFields) {
  Safetensors st;
  st.tensors["w"] = at::ones({2, 3}, at::kFloat);
  std::string bytes = encode_safetensors(st);
  uint64_t len = 0;
  for (int i = 0; i < 8; ++i) len |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  EXPECT_EQ(len % 8, 0u);
  auto header = nlohmann::json::parse(bytes.substr(8, len));
  EXPECT_EQ(header["w"]["dtype"], "F32");
  EXPECT_EQ(header["w"]["shape"], nlohmann::json::array({2, 3}));
  EXPECT_EQ(header["w"]["data_offsets"], nlohmann::json::array({0, 24}));
  EXPECT_EQ(bytes.size(), 8 + len + 24);
}

TEST(Safetensors, TruncatedAndCorruptFilesAreClearErrors) {
  const std::string good = encode_safetensors(sample());
  EXPECT_NE(error_of("abc").find("fewer than the 8-byte"), std::string::npos);
  EXPECT_NE(error_of(good.substr(0, good.size() - 3)).find("data"), std::string::npos);
  EXPECT_NE(error_of(good.substr(0, 40)).find("truncated"), std::string::npos);
  std::string not_json = good;
  not_json[9] = '#';
  EXPECT_NE(error_of(not_json).find("not JSON"), std::string::npos);
  std::string huge = good;
  huge[7] = '\x7f';
  EXPECT_NE(error_of(huge).find("header length"), std::string::npos);
  // Every single-byte corruption is either accepted or an Error, never a crash.
  for (size_t i = 0; i < std::min<size_t>(good.size(), 600); ++i) {
    std::string b = good;
    b[i] = static_cast<char>(b[i] ^ 0x5a);
    try {
      decode_safetensors(b, "fuzz");
    } catch (const Error&) {
    }
  }
  // Hand-made headers naming specific problems.
  auto with_header = [](const std::string& json, size_t data) {
    std::string out(8, '\0');
    for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((json.size() >> (8 * i)) & 0xff);
    return out + json + std::string(data, '\0');
  };
  EXPECT_NE(error_of(with_header(R"({"a":{"dtype":"F99","shape":[1],"data_offsets":[0,4]}})", 4)).find("F99"),
            std::string::npos);
  EXPECT_NE(error_of(with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4)).find("need 8"),
            std::string::npos);
  EXPECT_NE(error_of(with_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 4)).find("outside"),
            std::string::npos);
  EXPECT_NE(error_of(with_header(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4)).find("shape"),
            std::string::npos);
  EXPECT_NE(error_of(with_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 9)).find("account"),
            std::string::npos);
  EXPECT_NE(error_of(with_header(R"([1,2])", 0)).find("object"), std::string::npos);
  // Lengths that add up are not enough: overlapping or shifted offsets read one tensor as another.
  EXPECT_NE(error_of(with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                 R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                 16))
                .find("do not tile the data region: a tensor starts at byte 4 where 8 was expected"),
            std::string::npos);
  EXPECT_NE(error_of(with_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},)"
                                 R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                 8))
                .find("starts at byte 4 where 0 was expected"),
            std::string::npos);
  EXPECT_EQ(error_of(with_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},)"
                                 R"("b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                                 8)),
            "");  // any order in the header, as long as they tile
}

TEST(Safetensors, SaveIsAtomicAndLoadNamesMissingFiles) {
  const std::string path = ::testing::TempDir() + "/scanlab_st_test.safetensors";
  save_safetensors(path, sample());
  auto back = load_safetensors(path);
  EXPECT_EQ(back.tensors.size(), sample().tensors.size());
  std::ifstream tmp(path + ".tmp-" + std::to_string(::getpid()));
  EXPECT_FALSE(tmp.good()) << "temporary file left behind";
  std::remove(path.c_str());
  try {
    load_safetensors(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
  }
  EXPECT_THROW(save_safetensors("/nonexistent-dir/x.safetensors", sample()), Error);
}

}  // namespace
}  // namespace scanlab::io
