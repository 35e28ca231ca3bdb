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
  in.clear();
  if (head[0] == 0xFF && head[1] == 0xD8) {  // JPEG: ends with EOI, FF D9
    for (size_t i = tail.size(); i-- > 1;)
      if (tail[i - 1] == 0xFF && tail[i] == 0xD9) return "";
    return "is a JPEG without its end marker (truncated?)";
  }
  static const unsigned char kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (std::equal(head, head + 8, kPng)) {
    // IHDR, the first chunk, holds the size: refuse what would not fit in
    // memory before a decoder tries (OpenCV asserts without the file name).
    unsigned char ihdr[16] = {};
    in.seekg(8);
    in.read(reinterpret_cast<char*>(ihdr), 16);
    const auto be32 = [](const unsigned char* p) {
      return (uint64_t{p[0]} << 24) | (uint64_t{p[1]} << 16) | (uint64_t{p[2]} << 8) | uint64_t{p[3]};
    };
    const uint64_t w = be32(ihdr + 8), h = be32(ihdr + 12);
    if (in.gcount() == 16 && w * h > kMaxImagePixels)
      return "is a PNG of " + std::to_string(w) + "x" + std::to_string(h) + " px, more than the " +
             std::to_string(kMaxImagePixels) + " pixels ovseg reads";
    static const std::string iend = "IEND";
    if (std::search(tail.begin(), tail.end(), iend.begin(), iend.end()) != tail.end()) return "";
    return "is a PNG without its IEND chunk (truncated?)";
  }
  return "";
}

}  // namespace ovseg::harness
