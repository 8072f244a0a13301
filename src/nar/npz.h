// NumPy .npy (format 1.0) and .npz files, written and read without numpy. An .npz is a zip
// archive of "<name>.npy" members; scanlab stores them uncompressed (method 0) with CRC-32, which
// numpy.load reads. The reader takes sizes and offsets from the central directory (so numpy's own
// np.savez files, zip64 extras included, load too) and rejects anything else with a clear error:
// compressed members, bad CRCs, truncated data, unsupported dtypes, fortran order.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace scanlab::nar {

// Raw little-endian element bytes with numpy's descr: "<f8", "<i8" or "<U<k>" (UTF-32 strings).
struct NpyArray {
  std::string descr;
  std::vector<int64_t> shape;
  std::string bytes;

  int64_t numel() const;
  static NpyArray f64(std::vector<int64_t> shape, const std::vector<double>& values);
  static NpyArray i64(std::vector<int64_t> shape, const std::vector<double>& values);  // values are integers
  static NpyArray text(const std::string& ascii);                                      // 0-d unicode array
  // Element values as doubles ("<f8", "<f4", "<i8", "<i4"); throws naming `where` otherwise.
  std::vector<double> as_doubles(const std::string& where) const;
  // The string of a 0-d "<U" array (ASCII characters only).
  std::string as_text(const std::string& where) const;
};

using NpzMembers = std::vector<std::pair<std::string, NpyArray>>;  // names without ".npy"

std::string encode_npy(const NpyArray& a);
NpyArray decode_npy(const std::string& bytes, const std::string& where);
std::string encode_npz(const NpzMembers& members);
NpzMembers decode_npz(const std::string& bytes, const std::string& source);

uint32_t crc32(const std::string& bytes);

}  // namespace scanlab::nar
