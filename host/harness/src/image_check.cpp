#include "ovseg/harness/image_check.hpp"

#include <algorithm>
#include <fstream>
#include <vector>

namespace ovseg::harness {

std::string image_file_problem(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return "cannot be opened";
  const std::streamoff size = in.tellg();
  if (size < 8) return "is too short to be an image (" + std::to_string(size) + " bytes)";
  unsigned char head[8];
  in.seekg(0);
  in.read(reinterpret_cast<char*>(head), 8);
  // Look at the last bytes: some writers pad after the end marker.
  const std::streamoff tail_len = std::min<std::streamoff>(size, 4096);
  std::vector<unsigned char> tail(static_cast<size_t>(tail_len));
  in.seekg(size - tail_len);
  in.read(reinterpret_cast<char*>(tail.data()), tail_len);
  if (head[0] == 0xFF && head[1] == 0xD8) {  // JPEG: ends with EOI, FF D9
    for (size_t i = tail.size(); i-- > 1;)
      if (tail[i - 1] == 0xFF && tail[i] == 0xD9) return "";
    return "is a JPEG without its end marker (truncated?)";
  }
  static const unsigned char kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (std::equal(head, head + 8, kPng)) {
    static const std::string iend = "IEND";
    if (std::search(tail.begin(), tail.end(), iend.begin(), iend.end()) != tail.end()) return "";
    return "is a PNG without its IEND chunk (truncated?)";
  }
  return "";
}

}  // namespace ovseg::harness
