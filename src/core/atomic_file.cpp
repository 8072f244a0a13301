#include "core/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/check.h"

namespace scanlab {

namespace {

// Temporaries "<path>.tmp-<pid>" left by writers that were killed (kill -9 mid-write): removed when
// their process no longer exists, so repeated kills do not pile up copies of a large checkpoint.
void remove_stale_temporaries(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const std::string prefix = target.filename().string() + ".tmp-";
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string digits = name.substr(prefix.size());
    if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(digits));
    if (pid != ::getpid() && ::kill(pid, 0) != 0 && errno == ESRCH) fs::remove(it->path(), ec);
  }
}

}  // namespace

void write_file_atomically(const std::string& path, std::string_view bytes) {
  // Renaming over a device node or a directory would replace it with a regular file.
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0)
    SCANLAB_CHECK(S_ISREG(st.st_mode), "cannot write '", path, "': it exists and is not a regular file (",
                  S_ISDIR(st.st_mode) ? "a directory" : "a device, pipe or socket",
                  "); expected a new file or a regular file to replace");
  remove_stale_temporaries(path);
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  SCANLAB_CHECK(fd >= 0, "cannot write '", path, "': ", std::strerror(errno),
                " (check that the directory exists and is writable)");
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      SCANLAB_FAIL("writing '", path, "' failed: ", std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  const int sync_err = errno;
  ::close(fd);
  if (!synced) {
    ::unlink(tmp.c_str());
    SCANLAB_FAIL("writing '", path, "' failed at fsync: ", std::strerror(sync_err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    SCANLAB_FAIL("cannot replace '", path, "': ", std::strerror(err));
  }
}

std::string read_file(const std::string& path) {
  // Regular files only, or a pipe up to kMaxPipeBytes: a device such as /dev/zero never ends.
  struct stat st {};
  SCANLAB_CHECK(::stat(path.c_str(), &st) == 0, "cannot read '", path, "': ", std::strerror(errno));
  SCANLAB_CHECK(S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode), "cannot read '", path, "': it is ",
                S_ISDIR(st.st_mode) ? "a directory" : "a device or socket", "; expected a regular file (or a pipe)");
  std::ifstream in(path, std::ios::binary);
  SCANLAB_CHECK(in.good(), "cannot read '", path, "': ", std::strerror(errno));
  if (S_ISREG(st.st_mode)) {
    std::ostringstream ss;
    ss << in.rdbuf();
    SCANLAB_CHECK(!in.bad(), "reading '", path, "' failed");
    return ss.str();
  }
  std::string out;
  char buf[1 << 16];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    out.append(buf, static_cast<size_t>(in.gcount()));
    SCANLAB_CHECK(out.size() <= kMaxPipeBytes, "reading '", path, "': a pipe longer than ", kMaxPipeBytes >> 20,
                  " MiB; expected a regular file for inputs that large");
  }
  SCANLAB_CHECK(!in.bad(), "reading '", path, "' failed");
  return out;
}

}  // namespace scanlab
