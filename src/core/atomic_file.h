// Atomic file writes: data goes to "<path>.tmp-<pid>", is flushed and fsync'ed, then renamed over
// <path>. A reader (or a resumed run after a kill) sees the old file or the new one, never half.
#pragma once
#include <string>
#include <string_view>

namespace scanlab {

// Throws scanlab::Error naming the path if the directory is missing or not writable, or if the
// path exists and is not a regular file (a device node or a directory is never replaced). Removes
// temporaries of this path that killed writers left behind (their process no longer exists).
void write_file_atomically(const std::string& path, std::string_view bytes);

// The most read_file takes from a pipe (a regular file has its own size).
constexpr size_t kMaxPipeBytes = size_t{1} << 30;

// Reads a whole regular file, or a pipe up to kMaxPipeBytes; throws scanlab::Error naming the path
// if it cannot be read or is a device (/dev/zero would never end), a directory or a socket.
std::string read_file(const std::string& path);

}  // namespace scanlab
