// Writing a file so that a reader, or a crash half-way, never sees half of
// it: the content goes to a temporary file beside it, which is renamed into
// place once complete. One helper for every file ovseg writes (records,
// weights, checkpoints, images, .npy, world scenes).
#pragma once

#include <functional>
#include <string>

namespace ovseg {

struct AtomicWrite {
  // Flush the data to disk before the rename and the folder after it
  // (results records: they must survive a power cut whole or not at all).
  bool durable = false;
  // End the temporary's name in `path`'s extension, for writers that pick
  // the format by it (cv::imwrite). Off by default: a folder scan for
  // "*.json" must never see a half-written temporary.
  bool keep_extension = false;
};

// Calls write(tmp) with a temporary path beside `path` (PATH.tmp.PID, unique
// to this process), then renames it to `path`. If write() throws, the
// temporary is removed and the exception passes on; other failures throw
// ovseg::Error naming `path`. The folder must exist.
void write_atomically(const std::string& path, const std::function<void(const std::string& tmp)>& write,
                      AtomicWrite how = {});

// The bytes of `text`, through write_atomically.
void write_text_atomically(const std::string& path, const std::string& text, AtomicWrite how = {});

}  // namespace ovseg
