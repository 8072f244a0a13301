// .npy / .npz encoding and decoding (numpy's format spec NEP 1, PKWARE zip APPNOTE 4.3).
#include "nar/npz.h"

#include <array>
#include <cstring>

#include "core/check.h"

namespace scanlab::nar {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the .npy/.npz code assumes a little-endian host");

constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50;
constexpr uint16_t kDosDate1980 = (1 << 5) | 1;  // 1980-01-01: fixed, so equal data gives equal files

void put16(std::string& out, uint16_t v) { out.append(reinterpret_cast<const char*>(&v), 2); }
void put32(std::string& out, uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }

uint16_t get16(const std::string& b, size_t at) {
  uint16_t v;
  std::memcpy(&v, b.data() + at, 2);
  return v;
}
uint32_t get32(const std::string& b, size_t at) {
  uint32_t v;
  std::memcpy(&v, b.data() + at, 4);
  return v;
}

// A non-negative decimal below 2^40 (array dimensions, string widths); throws naming `where`.
int64_t parse_count(const std::string& digits, const std::string& where) {
  SCANLAB_CHECK(!digits.empty() && digits.size() <= 12 && digits.find_first_not_of("0123456789") == std::string::npos,
                where, ": '", digits, "' is not a valid size in the .npy header");
  const int64_t v = std::stoll(digits);
  SCANLAB_CHECK(v < (int64_t{1} << 40), where, ": size ", v, " in the .npy header is implausibly large");
  return v;
}

int64_t item_size(const std::string& descr, const std::string& where) {
  if (descr == "<f8" || descr == "<i8") return 8;
  if (descr == "<f4" || descr == "<i4") return 4;
  if (descr.size() > 2 && descr.compare(0, 2, "<U") == 0) {
    return 4 * parse_count(descr.substr(2), where);
  }
  throw Error(detail::concat(where, ": dtype '", descr, "' is not supported; expected <f8, <f4, <i8, <i4 or <U"));
}

// The value text after "'key':" in a .npy header dict, up to the next top-level ',' or '}'.
std::string header_field(const std::string& header, const std::string& key, const std::string& where) {
  const auto k = header.find("'" + key + "'");
  SCANLAB_CHECK(k != std::string::npos, where, ": .npy header has no '", key, "': ", header);
  auto p = header.find(':', k);
  SCANLAB_CHECK(p != std::string::npos, where, ": .npy header is malformed near '", key, "'");
  ++p;
  while (p < header.size() && header[p] == ' ') ++p;
  size_t end = p;
  int depth = 0;
  while (end < header.size() && (depth > 0 || (header[end] != ',' && header[end] != '}'))) {
    if (header[end] == '(') ++depth;
    if (header[end] == ')') --depth;
    ++end;
  }
  return header.substr(p, end - p);
}

std::vector<int64_t> parse_shape(const std::string& text, const std::string& where) {
  SCANLAB_CHECK(text.size() >= 2 && text.front() == '(' && text.back() == ')', where, ": shape '", text,
                "' is not a tuple");
  std::vector<int64_t> shape;
  std::string num;
  for (size_t i = 1; i < text.size(); ++i) {
    const char c = text[i];
    if (c >= '0' && c <= '9') {
      num += c;
    } else if (c == ',' || c == ')') {
      if (!num.empty()) shape.push_back(parse_count(num, where));
      num.clear();
    } else {
      SCANLAB_CHECK(c == ' ' || c == 'L', where, ": shape '", text, "' has an unexpected character '", c, "'");
    }
  }
  return shape;
}

}  // namespace

int64_t NpyArray::numel() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

NpyArray NpyArray::f64(std::vector<int64_t> shape, const std::vector<double>& values) {
  NpyArray a{"<f8", std::move(shape), std::string(values.size() * 8, '\0')};
  std::memcpy(a.bytes.data(), values.data(), a.bytes.size());
  return a;
}

NpyArray NpyArray::i64(std::vector<int64_t> shape, const std::vector<double>& values) {
  std::vector<int64_t> ints(values.begin(), values.end());
  NpyArray a{"<i8", std::move(shape), std::string(ints.size() * 8, '\0')};
  std::memcpy(a.bytes.data(), ints.data(), a.bytes.size());
  return a;
}

NpyArray NpyArray::text(const std::string& ascii) {
  NpyArray a{"<U" + std::to_string(ascii.size()), {}, {}};
  for (unsigned char c : ascii) {
    SCANLAB_CHECK(c < 128, "npy text: only ASCII is written");
    put32(a.bytes, c);
  }
  return a;
}

std::vector<double> NpyArray::as_doubles(const std::string& where) const {
  const auto size = item_size(descr, where);
  SCANLAB_CHECK(descr[1] == 'f' || descr[1] == 'i', where, ": dtype ", descr, " is not numeric");
  std::vector<double> out(static_cast<size_t>(numel()));
  for (size_t i = 0; i < out.size(); ++i) {
    const char* p = bytes.data() + i * size;
    if (descr == "<f8") {
      std::memcpy(&out[i], p, 8);
    } else if (descr == "<f4") {
      float f;
      std::memcpy(&f, p, 4);
      out[i] = f;
    } else if (descr == "<i8") {
      int64_t v;
      std::memcpy(&v, p, 8);
      out[i] = static_cast<double>(v);
    } else {
      int32_t v;
      std::memcpy(&v, p, 4);
      out[i] = v;
    }
  }
  return out;
}

std::string NpyArray::as_text(const std::string& where) const {
  SCANLAB_CHECK(descr.compare(0, 2, "<U") == 0 && shape.empty(), where, ": expected a 0-d unicode array, got dtype ",
                descr);
  std::string out;
  for (size_t i = 0; i + 4 <= bytes.size(); i += 4) {
    const uint32_t c = get32(bytes, i);
    if (c == 0) break;  // numpy pads shorter strings with NULs
    SCANLAB_CHECK(c < 128, where, ": non-ASCII character in text");
    out += static_cast<char>(c);
  }
  return out;
}

std::string encode_npy(const NpyArray& a) {
  std::string shape = "(";
  for (size_t i = 0; i < a.shape.size(); ++i)
    shape += std::to_string(a.shape[i]) + (a.shape.size() == 1 ? "," : i + 1 < a.shape.size() ? ", " : "");
  shape += ")";
  std::string header = "{'descr': '" + a.descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad with spaces and a newline so the data starts at a multiple of 64 bytes.
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  SCANLAB_CHECK(header.size() < 65536, "npy header of ", header.size(), " bytes is too long for format 1.0");
  std::string out("\x93NUMPY\x01\x00", 8);
  put16(out, static_cast<uint16_t>(header.size()));
  return out + header + a.bytes;
}

NpyArray decode_npy(const std::string& b, const std::string& where) {
  SCANLAB_CHECK(b.size() >= 10 && b.compare(0, 6, "\x93NUMPY") == 0, where, ": not a .npy array (bad magic)");
  const int major = static_cast<unsigned char>(b[6]);
  SCANLAB_CHECK(major >= 1 && major <= 3, where, ": .npy format version ", major, " is not supported (expected 1-3)");
  const size_t prefix = major == 1 ? 10 : 12;
  SCANLAB_CHECK(b.size() >= prefix, where, ": truncated .npy header");
  const size_t header_len = major == 1 ? get16(b, 8) : get32(b, 8);
  SCANLAB_CHECK(b.size() >= prefix + header_len, where, ": .npy header runs past the end of the data");
  const std::string header = b.substr(prefix, header_len);
  NpyArray a;
  auto descr = header_field(header, "descr", where);
  SCANLAB_CHECK(descr.size() >= 2 && descr.front() == '\'' && descr.back() == '\'', where, ": descr ", descr,
                " is not a string (structured dtypes are not supported)");
  a.descr = descr.substr(1, descr.size() - 2);
  SCANLAB_CHECK(header_field(header, "fortran_order", where) == "False", where,
                ": fortran_order arrays are not supported; save C-ordered arrays");
  a.shape = parse_shape(header_field(header, "shape", where), where);
  const int64_t item = item_size(a.descr, where);
  int64_t expected = item;
  for (auto d : a.shape) {
    SCANLAB_CHECK(d == 0 || expected <= (int64_t{1} << 40) / d, where, ": shape is implausibly large for the file");
    expected *= d;
  }
  SCANLAB_CHECK(static_cast<int64_t>(b.size() - prefix - header_len) == expected, where, ": ",
                b.size() - prefix - header_len, " data bytes, expected ", expected, " for dtype ", a.descr);
  a.bytes = b.substr(prefix + header_len);
  return a;
}

uint32_t crc32(const std::string& bytes) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char x : bytes) c = table[(c ^ x) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

std::string encode_npz(const NpzMembers& members) {
  SCANLAB_CHECK(members.size() < 0xFFFF, "npz: ", members.size(), " arrays exceed the zip limit of 65534");
  std::string out, central;
  for (const auto& [name, array] : members) {
    const std::string file = name + ".npy", data = encode_npy(array);
    SCANLAB_CHECK(out.size() + data.size() < 0xFFFFFFFFull,
                  "npz: the archive would exceed 4 GiB (zip64 is not written)");
    const uint32_t crc = crc32(data), size = static_cast<uint32_t>(data.size());
    const auto offset = static_cast<uint32_t>(out.size());
    // Local file header: version 2.0, no flags, stored (method 0), fixed date.
    put32(out, kLocalSig), put16(out, 20), put16(out, 0), put16(out, 0), put16(out, 0), put16(out, kDosDate1980);
    put32(out, crc), put32(out, size), put32(out, size), put16(out, static_cast<uint16_t>(file.size())), put16(out, 0);
    out += file + data;
    put32(central, kCentralSig), put16(central, 20), put16(central, 20), put16(central, 0), put16(central, 0);
    put16(central, 0), put16(central, kDosDate1980), put32(central, crc), put32(central, size), put32(central, size);
    put16(central, static_cast<uint16_t>(file.size())), put16(central, 0), put16(central, 0), put16(central, 0);
    put16(central, 0), put32(central, 0), put32(central, offset);
    central += file;
  }
  const auto central_offset = static_cast<uint32_t>(out.size());
  out += central;
  put32(out, kEndSig), put16(out, 0), put16(out, 0), put16(out, static_cast<uint16_t>(members.size()));
  put16(out, static_cast<uint16_t>(members.size())), put32(out, static_cast<uint32_t>(central.size()));
  put32(out, central_offset), put16(out, 0);
  return out;
}

NpzMembers decode_npz(const std::string& b, const std::string& source) {
  SCANLAB_CHECK(b.size() >= 22, source, ": ", b.size(), " bytes is too short for a .npz (zip) file");
  // The end-of-central-directory record sits within the last 22 + 65535 bytes.
  size_t end = std::string::npos;
  for (size_t p = b.size() - 22 + 1; p-- > 0 && b.size() - p <= 22 + 65535;)
    if (get32(b, p) == kEndSig && p + 22 + get16(b, p + 20) == b.size()) {
      end = p;
      break;
    }
  SCANLAB_CHECK(end != std::string::npos, source, ": not a .npz file (no zip end-of-central-directory record)");
  const uint16_t entries = get16(b, end + 10);
  const uint32_t cd_size = get32(b, end + 12), cd_offset = get32(b, end + 16);
  SCANLAB_CHECK(entries != 0xFFFF && cd_offset != 0xFFFFFFFFu, source, ": zip64 archives are not supported");
  SCANLAB_CHECK(static_cast<uint64_t>(cd_offset) + cd_size <= end, source,
                ": the zip central directory lies outside the file");
  NpzMembers members;
  size_t p = cd_offset;
  for (uint16_t i = 0; i < entries; ++i) {
    SCANLAB_CHECK(p + 46 <= end && get32(b, p) == kCentralSig, source, ": zip central directory entry ", i,
                  " is corrupt");
    const uint16_t flags = get16(b, p + 8), method = get16(b, p + 10);
    const uint32_t crc = get32(b, p + 16), csize = get32(b, p + 20), usize = get32(b, p + 24);
    const uint16_t name_len = get16(b, p + 28), extra_len = get16(b, p + 30), comment_len = get16(b, p + 32);
    const uint32_t local = get32(b, p + 42);
    SCANLAB_CHECK(p + 46 + name_len <= end, source, ": zip entry ", i, " name runs past the directory");
    const std::string name = b.substr(p + 46, name_len);
    const std::string where = source + " member '" + name + "'";
    SCANLAB_CHECK((flags & 1) == 0, where, ": encrypted zip members are not supported");
    SCANLAB_CHECK(method == 0, where, ": compression method ", method,
                  " is not supported; write the file with numpy.savez (stored), not savez_compressed");
    SCANLAB_CHECK(csize == usize && csize != 0xFFFFFFFFu, where, ": sizes ", csize, "/", usize, " are inconsistent");
    SCANLAB_CHECK(static_cast<uint64_t>(local) + 30 <= cd_offset && get32(b, local) == kLocalSig, where,
                  ": local zip header is missing or corrupt");
    const size_t data_at = local + 30 + get16(b, local + 26) + get16(b, local + 28);
    SCANLAB_CHECK(data_at + usize <= cd_offset, where, ": data runs past the end of the archive (truncated file?)");
    const std::string data = b.substr(data_at, usize);
    SCANLAB_CHECK(crc32(data) == crc, where, ": CRC-32 mismatch (corrupt file)");
    SCANLAB_CHECK(name.size() > 4 && name.compare(name.size() - 4, 4, ".npy") == 0, where, ": not a .npy member");
    members.emplace_back(name.substr(0, name.size() - 4), decode_npy(data, where));
    p += 46 + name_len + extra_len + comment_len;
  }
  return members;
}

}  // namespace scanlab::nar
