#include "io/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>

#include "core/atomic_file.h"
#include "core/check.h"

namespace scanlab::io {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // the format's own limit

struct DtypeName {
  at::ScalarType type;
  const char* name;
};
constexpr DtypeName kDtypes[] = {
    {at::kDouble, "F64"}, {at::kFloat, "F32"}, {at::kHalf, "F16"}, {at::kBFloat16, "BF16"}, {at::kLong, "I64"},
    {at::kInt, "I32"},    {at::kShort, "I16"}, {at::kChar, "I8"},  {at::kByte, "U8"},       {at::kBool, "BOOL"},
};

const char* dtype_name(at::ScalarType t) {
  for (const auto& d : kDtypes)
    if (d.type == t) return d.name;
  SCANLAB_FAIL("safetensors: dtype ", t, " cannot be stored");
}

std::string known_dtypes() {
  std::string s;
  for (const auto& d : kDtypes) s += std::string(s.empty() ? "" : ", ") + d.name;
  return s;
}

}  // namespace

std::string encode_safetensors(const Safetensors& st) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!st.metadata.empty()) header["__metadata__"] = st.metadata;
  std::vector<at::Tensor> blobs;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : st.tensors) {
    SCANLAB_CHECK(name != "__metadata__", "safetensors: '__metadata__' is reserved and cannot name a tensor");
    SCANLAB_CHECK(tensor.defined(), "safetensors: tensor '", name, "' is undefined");
    at::Tensor t = tensor.detach().to(at::kCPU).contiguous();
    const uint64_t bytes = static_cast<uint64_t>(t.numel()) * t.element_size();
    header[name] = {
        {"dtype", dtype_name(t.scalar_type())}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    blobs.push_back(t);
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');  // keep the data 8-byte aligned, as the format advises
  std::string out(8, '\0');
  const uint64_t len = json.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((len >> (8 * i)) & 0xff);
  out += json;
  out.reserve(out.size() + offset);
  for (const auto& t : blobs) out.append(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
  return out;
}

Safetensors decode_safetensors(const std::string& bytes, const std::string& source) {
  auto fail = [&](const std::string& what) { throw Error(source + ": not a valid safetensors file: " + what); };
  if (bytes.size() < 8) fail("it has " + std::to_string(bytes.size()) + " bytes, fewer than the 8-byte header length");
  uint64_t len = 0;
  for (int i = 0; i < 8; ++i) len |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  if (len > kMaxHeaderBytes || len > bytes.size() - 8)
    fail("header length " + std::to_string(len) + " exceeds the file (" + std::to_string(bytes.size()) +
         " bytes); the file is truncated or not safetensors");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<int64_t>(len));
  } catch (const nlohmann::json::exception& e) {
    fail(std::string("header is not JSON (") + e.what() + ")");
  }
  if (!header.is_object()) fail("header is not a JSON object");
  const uint64_t data_begin = 8 + len, data_size = bytes.size() - data_begin;
  Safetensors st;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;  // [begin, end) of every tensor
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const auto& entry = it.value();
    if (name == "__metadata__") {
      if (!entry.is_object()) fail("__metadata__ is not an object");
      for (auto m = entry.begin(); m != entry.end(); ++m) {
        if (!m.value().is_string()) fail("__metadata__['" + m.key() + "'] is not a string");
        st.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + name + "'";
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") || !entry.contains("data_offsets"))
      fail(where + " lacks dtype, shape or data_offsets");
    if (!entry["dtype"].is_string()) fail(where + ": dtype is not a string");
    const std::string dt = entry["dtype"].get<std::string>();
    const DtypeName* found = nullptr;
    for (const auto& d : kDtypes)
      if (dt == d.name) found = &d;
    if (!found) fail(where + ": dtype '" + dt + "' is not one of " + known_dtypes());
    const auto& shape_json = entry["shape"];
    const auto& off_json = entry["data_offsets"];
    if (!shape_json.is_array()) fail(where + ": shape is not an array");
    std::vector<int64_t> shape;
    uint64_t numel = 1;
    for (const auto& s : shape_json) {
      if (!s.is_number_unsigned()) fail(where + ": shape holds a value that is not a non-negative integer");
      const uint64_t v = s.get<uint64_t>();
      if (v > (1ull << 40) || (v && numel > (1ull << 50) / v)) fail(where + ": shape is implausibly large");
      numel *= v;
      shape.push_back(static_cast<int64_t>(v));
    }
    if (!off_json.is_array() || off_json.size() != 2 || !off_json[0].is_number_unsigned() ||
        !off_json[1].is_number_unsigned())
      fail(where + ": data_offsets is not [begin, end]");
    const uint64_t b = off_json[0].get<uint64_t>(), e = off_json[1].get<uint64_t>();
    const uint64_t elem = c10::elementSize(found->type);
    if (e < b || e > data_size)
      fail(where + ": data_offsets [" + std::to_string(b) + ", " + std::to_string(e) + "] fall outside the " +
           std::to_string(data_size) + " data bytes (truncated file?)");
    if (e - b != numel * elem)
      fail(where + ": " + std::to_string(e - b) + " data bytes, but shape and dtype need " +
           std::to_string(numel * elem));
    ranges.emplace_back(b, e);
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(found->type));
    if (numel) std::memcpy(t.data_ptr(), bytes.data() + data_begin + b, e - b);
    st.tensors[name] = t;
  }
  // The tensors must tile the data region: lengths that merely add up could hide overlapping or
  // shifted offsets, which would read one tensor's bytes as another's.
  std::sort(ranges.begin(), ranges.end());
  uint64_t at = 0;
  for (const auto& [b, e] : ranges) {
    if (b != at)
      fail("data_offsets do not tile the data region: a tensor starts at byte " + std::to_string(b) + " where " +
           std::to_string(at) + " was expected (overlapping, shifted or unused bytes)");
    at = e;
  }
  if (at != data_size)
    fail(std::to_string(data_size) + " data bytes, but the tensors account for " + std::to_string(at));
  return st;
}

void save_safetensors(const std::string& path, const Safetensors& st) {
  write_file_atomically(path, encode_safetensors(st));
}

Safetensors load_safetensors(const std::string& path) { return decode_safetensors(read_file(path), path); }

}  // namespace scanlab::io
