#pragma once
// Self-contained SHA-256 (FIPS 180-4), used by the model zoo to verify
// downloaded checkpoints without pulling in OpenSSL.

#include <cstddef>
#include <cstdint>
#include <string>

namespace ovseg::models {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  std::string hex_digest();  // finalises; lower-case, 64 chars

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
  bool done_ = false;
};

std::string sha256_hex(const void* data, size_t size);
std::string sha256_hex(const std::string& bytes);
// Streams the file; throws std::runtime_error naming the file if unreadable.
std::string sha256_file(const std::string& path);

}  // namespace ovseg::models
