#include "ovseg/sdk/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "ovseg/sdk/diagnostics.hpp"

namespace ovseg {

namespace {

namespace fs = std::filesystem;

// fsync of a file or folder; false with errno set on failure.
bool sync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  errno = saved;
  return ok;
}

}  // namespace

void write_atomically(const std::string& path, const std::function<void(const std::string& tmp)>& write,
                      AtomicWrite how) {
  const fs::path target(path);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid()) +
                          (how.keep_extension ? target.extension().string() : "");
  const auto remove_tmp = [&] {
    std::error_code ec;
    fs::remove(tmp, ec);
  };
  try {
    write(tmp);
  } catch (...) {
    remove_tmp();
    throw;
  }
  if (how.durable && !sync_path(tmp, O_RDONLY)) {
    const std::string err = std::strerror(errno);
    remove_tmp();
    throw Error({path, 0, 0}, "", "cannot flush the file to disk: " + err, "check the disk (full?)");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string err = std::strerror(errno);
    remove_tmp();
    throw Error({path, 0, 0}, "", "cannot move the finished file into place: " + err,
                "check that the folder is writable");
  }
  // The rename itself must reach the disk too.
  if (how.durable) sync_path(target.has_parent_path() ? target.parent_path().string() : ".", O_RDONLY | O_DIRECTORY);
}

void write_text_atomically(const std::string& path, const std::string& text, AtomicWrite how) {
  write_atomically(
      path,
      [&](const std::string& tmp) {
        const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0)
          throw Error({path, 0, 0}, "", std::string("cannot write: ") + std::strerror(errno),
                      "check that the folder exists and is writable");
        size_t done = 0;
        while (done < text.size()) {
          const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
          if (n < 0 && errno == EINTR) continue;
          if (n < 0) {
            const std::string err = std::strerror(errno);
            ::close(fd);
            throw Error({path, 0, 0}, "", "cannot write: " + err, "free space and retry");
          }
          done += static_cast<size_t>(n);
        }
        if (::close(fd) != 0)
          throw Error({path, 0, 0}, "", std::string("cannot write: ") + std::strerror(errno), "free space and retry");
      },
      how);
}

}  // namespace ovseg
