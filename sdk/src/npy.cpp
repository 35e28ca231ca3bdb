#include "ovseg/sdk/npy.hpp"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "ovseg/sdk/atomic_file.hpp"
#include "ovseg/sdk/diagnostics.hpp"

namespace ovseg {

namespace {

const char* descr_of(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "<f4";
    case at::kDouble: return "<f8";
    case at::kLong: return "<i8";
    case at::kInt: return "<i4";
    case at::kByte: return "|u1";
    default: return nullptr;
  }
}

at::ScalarType type_of(const std::string& descr) {
  if (descr == "<f4") return at::kFloat;
  if (descr == "<f8") return at::kDouble;
  if (descr == "<i8") return at::kLong;
  if (descr == "<i4") return at::kInt;
  if (descr == "|u1" || descr == "<u1") return at::kByte;
  return at::ScalarType::Undefined;
}

// Value of `key` in NumPy's header dict, e.g. 'descr': '<f4'.
std::string header_field(const std::string& header, const std::string& key) {
  auto k = header.find("'" + key + "'");
  if (k == std::string::npos) return "";
  auto colon = header.find(':', k);
  auto start = header.find_first_not_of(' ', colon + 1);
  if (header[start] == '(') return header.substr(start + 1, header.find(')', start) - start - 1);
  if (header[start] == '\'') return header.substr(start + 1, header.find('\'', start + 1) - start - 1);
  return header.substr(start, header.find_first_of(",}", start) - start);
}

}  // namespace

namespace {

// The preamble and header dict of a C-order array, padded so the data starts
// on a 64-byte boundary.
std::string npy_preamble(const char* descr, at::IntArrayRef sizes) {
  std::string shape = "(";
  for (size_t i = 0; i < sizes.size(); ++i)
    shape += std::to_string(sizes[i]) + (sizes.size() == 1 || i + 1 < sizes.size() ? "," : "");
  shape += ")";
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  const size_t preamble = 10;
  size_t total = preamble + header.size() + 1;
  header += std::string((64 - total % 64) % 64, ' ') + "\n";
  const uint16_t header_len = static_cast<uint16_t>(header.size());
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header_len & 0xff);
  out += static_cast<char>(header_len >> 8);
  return out + header;
}

}  // namespace

void write_npy(const std::string& path, const at::Tensor& t) {
  const char* descr = descr_of(t.scalar_type());
  if (descr == nullptr)
    throw Error({path, 0, 0}, "", std::string("cannot write dtype ") + at::toString(t.scalar_type()) + " to .npy",
                "convert the tensor to float32 first");
  at::Tensor c = t.to(at::kCPU).contiguous();
  const std::string preamble = npy_preamble(descr, c.sizes());
  write_atomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    if (!out) throw Error({path, 0, 0}, "", "cannot write .npy", "check that the folder exists");
    out.write(preamble.data(), static_cast<std::streamsize>(preamble.size()));
    out.write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.nbytes()));
    if (!out) throw Error({path, 0, 0}, "", "write failed (disk full?)", "free space and retry");
  });
}

NpyFloatWriter::NpyFloatWriter(std::string path, std::vector<int64_t> shape)
    : path_(std::move(path)), tmp_(path_ + ".tmp") {
  const std::string preamble = npy_preamble(descr_of(at::kFloat), shape);
  data_offset_ = static_cast<int64_t>(preamble.size());
  numel_ = 1;
  for (int64_t d : shape) numel_ *= d;
  out_ = std::make_unique<std::ofstream>(tmp_, std::ios::binary | std::ios::trunc);
  if (!*out_) throw Error({path_, 0, 0}, "", "cannot write .npy", "check that the folder exists and is writable");
  out_->write(preamble.data(), static_cast<std::streamsize>(preamble.size()));
}

void NpyFloatWriter::write(int64_t element_offset, const at::Tensor& values) {
  at::Tensor c = values.to(at::kCPU, at::kFloat).contiguous();
  if (element_offset < 0 || element_offset + c.numel() > numel_)
    throw std::invalid_argument("NpyFloatWriter: " + std::to_string(c.numel()) + " values at offset " +
                                std::to_string(element_offset) + " past the array's " + std::to_string(numel_));
  out_->seekp(data_offset_ + element_offset * static_cast<int64_t>(sizeof(float)));
  out_->write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.nbytes()));
  if (!*out_) throw Error({path_, 0, 0}, "", "write failed (disk full?)", "free space and retry");
}

void NpyFloatWriter::commit() {
  // Every element must have been written: the file must be the full size.
  out_->seekp(0, std::ios::end);
  const int64_t size = static_cast<int64_t>(out_->tellp());
  out_->close();
  if (!*out_ || size != data_offset_ + numel_ * static_cast<int64_t>(sizeof(float)))
    throw Error({path_, 0, 0}, "", "incomplete .npy (" + std::to_string(size) + " bytes written)",
                "free space and retry");
  std::filesystem::rename(tmp_, path_);
  committed_ = true;
}

NpyFloatWriter::~NpyFloatWriter() {
  if (committed_) return;
  out_.reset();
  std::error_code ec;
  std::filesystem::remove(tmp_, ec);
}

at::Tensor read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error({path, 0, 0}, "", "cannot open .npy file", "check the path");
  char magic[8];
  in.read(magic, 8);
  if (!in || std::memcmp(magic, "\x93NUMPY", 6) != 0)
    throw Error({path, 0, 0}, "", "not a NumPy .npy file (bad magic)", "save it with numpy.save");
  uint32_t header_len = 0;
  if (magic[6] == 1) {
    unsigned char b[2];
    in.read(reinterpret_cast<char*>(b), 2);
    header_len = b[0] | (b[1] << 8);
  } else {
    unsigned char b[4];
    in.read(reinterpret_cast<char*>(b), 4);
    header_len = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<uint32_t>(b[3]) << 24);
  }
  std::string header(header_len, '\0');
  in.read(header.data(), header_len);
  if (!in) throw Error({path, 0, 0}, "", "truncated .npy header", "re-save the file");
  const at::ScalarType type = type_of(header_field(header, "descr"));
  if (type == at::ScalarType::Undefined)
    throw Error({path, 0, 0}, "", "unsupported .npy dtype '" + header_field(header, "descr") + "'",
                "use float32, float64, int64, int32 or uint8");
  if (header_field(header, "fortran_order") != "False")
    throw Error({path, 0, 0}, "", "Fortran-ordered .npy is not supported", "save with np.ascontiguousarray");
  std::vector<int64_t> shape;
  std::string dims = header_field(header, "shape");
  for (size_t pos = 0; pos < dims.size();) {
    size_t end = dims.find(',', pos);
    std::string part = dims.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    if (part.find_first_not_of(' ') != std::string::npos) shape.push_back(std::stoll(part));
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(type));
  in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(t.nbytes()));
  if (!in || static_cast<size_t>(in.gcount()) != t.nbytes())
    throw Error({path, 0, 0}, "", "truncated .npy data: expected " + std::to_string(t.nbytes()) + " bytes",
                "re-save the file");
  return t;
}

}  // namespace ovseg
