// safetensors files (the Hugging Face format): 8-byte little-endian header length, a JSON header
// {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}, then raw
// little-endian tensor bytes. Loading validates every field against the file size, so a truncated
// or corrupt file is a scanlab::Error naming the file and the problem, never a crash.
#pragma once
#include <ATen/ATen.h>

#include <map>
#include <string>

namespace scanlab::io {

struct Safetensors {
  std::map<std::string, at::Tensor> tensors;    // CPU, contiguous
  std::map<std::string, std::string> metadata;  // "__metadata__" (string values only, per the format)
};

// Serialises to bytes (tensors are moved to CPU and made contiguous).
std::string encode_safetensors(const Safetensors& st);
// Parses bytes; `source` names the origin in error messages.
Safetensors decode_safetensors(const std::string& bytes, const std::string& source);

// Written atomically (see core/atomic_file.h).
void save_safetensors(const std::string& path, const Safetensors& st);
Safetensors load_safetensors(const std::string& path);

}  // namespace scanlab::io
