// Atomic file writes: data goes to "<path>.tmp-<pid>", is flushed and fsync'ed, then renamed over
// <path>. A reader (or a resumed run after a kill) sees the old file or the new one, never half.
#pragma once
#include <string>
#include <string_view>

namespace scanlab {

// Throws scanlab::Error naming the path if the directory is missing or not writable.
void write_file_atomically(const std::string& path, std::string_view bytes);

// Reads a whole file; throws scanlab::Error naming the path if it cannot be read.
std::string read_file(const std::string& path);

}  // namespace scanlab
