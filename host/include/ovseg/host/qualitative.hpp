// Encoding for images embedded in records and reports: the record stays one
// atomic file and the HTML report stays self-contained when images travel
// as base64 text (qualitative_pool.hpp decides which images).
#pragma once

#include <string>
#include <vector>

namespace ovseg {

// Standard base64 (RFC 4648, padded) of encoded image bytes, for data: URLs.
std::string base64_encode(const std::vector<unsigned char>& bytes);

}  // namespace ovseg
