// safetensors reader and writer (https://github.com/huggingface/safetensors):
//   u64 little-endian N | N bytes of JSON header | raw little-endian data
// The header maps tensor names to {"dtype","shape","data_offsets":[begin,end]}
// (offsets relative to the data section) plus an optional "__metadata__"
// string->string map. The header is parsed with nlohmann::json (already used
// by the harness); its errors become one line naming the file and the byte.
#include <ovseg/models/checkpoint_io.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstring>
#include <memory>
#include <sstream>
#include <vector>

namespace ovseg::models {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw CheckpointError("safetensors file '" + path + "': " + what);
}

// ------------------------------------------------------------- dtypes
struct DtypeName {
  const char* name;
  at::ScalarType type;
};
const DtypeName kDtypes[] = {
    {"F32", at::kFloat}, {"F16", at::kHalf},  {"BF16", at::kBFloat16}, {"F64", at::kDouble}, {"I64", at::kLong},
    {"I32", at::kInt},   {"I16", at::kShort}, {"I8", at::kChar},       {"U8", at::kByte},    {"BOOL", at::kBool},
};

at::ScalarType dtype_from_name(const std::string& n, const std::string& path, const std::string& key) {
  for (const auto& d : kDtypes)
    if (n == d.name) return d.type;
  fail(path, "tensor '" + key + "' has unsupported dtype '" + n + "'");
}

const char* dtype_name(at::ScalarType t, const std::string& key) {
  for (const auto& d : kDtypes)
    if (d.type == t) return d.name;
  throw CheckpointError("save_safetensors: tensor '" + key + "' has unsupported dtype " +
                        std::string(c10::toString(t)));
}

using File = std::unique_ptr<FILE, int (*)(FILE*)>;

using Json = nlohmann::json;

uint64_t json_u64(const Json& v, const std::string& path, const std::string& key, const char* field) {
  if (!v.is_number_unsigned()) fail(path, "tensor '" + key + "': '" + field + "' must hold non-negative integers");
  return v.get<uint64_t>();
}

// The header as a JSON object; a parse error names the byte, not the
// library's own message (which quotes the header's text).
Json parse_header(const std::string& header, const std::string& path) {
  try {
    return Json::parse(header);
  } catch (const Json::parse_error& e) {
    fail(path, "corrupt JSON header at byte " + std::to_string(e.byte) + " of " + std::to_string(header.size()) +
                   ": not valid JSON");
  }
}

// Key and metadata strings for the writer (invalid UTF-8 replaced, not thrown).
std::string json_escape(const std::string& s) { return Json(s).dump(-1, ' ', false, Json::error_handler_t::replace); }

}  // namespace

StateDict load_safetensors(const std::string& path, std::map<std::string, std::string>* metadata) {
  File f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) fail(path, "cannot open file (missing or unreadable)");
  std::fseek(f.get(), 0, SEEK_END);
  const long long file_size = std::ftell(f.get());
  std::fseek(f.get(), 0, SEEK_SET);
  unsigned char len_bytes[8];
  if (file_size < 8 || std::fread(len_bytes, 1, 8, f.get()) != 8)
    fail(path, "truncated: shorter than the 8-byte header length");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];  // little-endian
  if (header_len > static_cast<uint64_t>(file_size - 8))
    fail(path, "truncated or corrupt: header length " + std::to_string(header_len) + " exceeds the file size " +
                   std::to_string(file_size));
  std::string header(header_len, '\0');
  if (std::fread(header.data(), 1, header_len, f.get()) != header_len) fail(path, "truncated header");
  const Json root = parse_header(header, path);
  if (!root.is_object()) fail(path, "corrupt header: not a JSON object");
  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = static_cast<uint64_t>(file_size) - data_start;

  StateDict sd;
  for (const auto& [key, entry] : root.items()) {
    if (key == "__metadata__") {
      if (!entry.is_object()) fail(path, "'__metadata__' is not an object");
      if (metadata)
        for (const auto& [k, v] : entry.items())
          if (v.is_string()) (*metadata)[k] = v.get<std::string>();
      continue;
    }
    const auto field = [&](const char* name) -> const Json* {
      if (!entry.is_object()) return nullptr;
      auto it = entry.find(name);
      return it == entry.end() ? nullptr : &*it;
    };
    const Json* dt = field("dtype");
    const Json* shape = field("shape");
    const Json* offs = field("data_offsets");
    if (!dt || !dt->is_string() || !shape || !shape->is_array() || !offs || !offs->is_array() || offs->size() != 2)
      fail(path, "corrupt header entry for tensor '" + key + "' (needs dtype, shape, data_offsets)");
    const std::string dtype = dt->get<std::string>();
    const at::ScalarType type = dtype_from_name(dtype, path, key);
    std::vector<int64_t> sizes;
    uint64_t numel = 1;
    for (const auto& d : *shape) {
      sizes.push_back(static_cast<int64_t>(json_u64(d, path, key, "shape")));
      numel *= static_cast<uint64_t>(sizes.back());
    }
    const uint64_t begin = json_u64((*offs)[0], path, key, "data_offsets");
    const uint64_t end = json_u64((*offs)[1], path, key, "data_offsets");
    const uint64_t nbytes = numel * c10::elementSize(type);
    if (end < begin || end - begin != nbytes)
      fail(path, "tensor '" + key + "': data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                     "] do not match shape " + shape_string(sizes) + " of " + dtype);
    if (end > data_size)
      fail(path, "truncated: tensor '" + key + "' needs bytes up to " + std::to_string(data_start + end) +
                     " but the file has " + std::to_string(file_size));
    at::Tensor t = at::empty(sizes, at::TensorOptions().dtype(type));
    if (nbytes) {
      std::fseek(f.get(), static_cast<long>(data_start + begin), SEEK_SET);
      if (std::fread(t.data_ptr(), 1, nbytes, f.get()) != nbytes) fail(path, "read error in tensor '" + key + "'");
    }
    sd[key] = std::move(t);
  }
  return sd;
}

void save_safetensors(const std::string& path, const StateDict& sd,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  std::ostringstream h;
  h << "{";
  bool first = true;
  if (!metadata.empty()) {
    h << "\"__metadata__\":{";
    for (auto it = metadata.begin(); it != metadata.end(); ++it)
      h << (it == metadata.begin() ? "" : ",") << json_escape(it->first) << ":" << json_escape(it->second);
    h << "}";
    first = false;
  }
  uint64_t offset = 0;
  for (const auto& kv : sd) {
    at::Tensor t = kv.second.detach().to(at::kCPU).contiguous();
    const char* dn = dtype_name(t.scalar_type(), kv.first);
    const uint64_t nbytes = t.numel() * t.element_size();
    h << (first ? "" : ",") << json_escape(kv.first) << ":{\"dtype\":\"" << dn << "\",\"shape\":[";
    for (int64_t d = 0; d < t.dim(); ++d) h << (d ? "," : "") << t.size(d);
    h << "],\"data_offsets\":[" << offset << "," << offset + nbytes << "]}";
    offset += nbytes;
    first = false;
    tensors.emplace_back(kv.first, std::move(t));
  }
  h << "}";
  std::string header = h.str();
  // Pad with spaces so the data section starts 8-byte aligned (as the
  // reference writer does); JSON allows trailing whitespace.
  while ((8 + header.size()) % 8) header += ' ';

  File f(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!f) throw CheckpointError("save_safetensors: cannot create '" + path + "'");
  unsigned char len_bytes[8];
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<unsigned char>(uint64_t(header.size()) >> (8 * i));
  bool ok = std::fwrite(len_bytes, 1, 8, f.get()) == 8 &&
            std::fwrite(header.data(), 1, header.size(), f.get()) == header.size();
  for (const auto& kv : tensors) {
    const size_t nbytes = kv.second.numel() * kv.second.element_size();
    if (ok && nbytes) ok = std::fwrite(kv.second.data_ptr(), 1, nbytes, f.get()) == nbytes;
  }
  if (!ok || std::fflush(f.get()) != 0) throw CheckpointError("save_safetensors: write error on '" + path + "'");
}

}  // namespace ovseg::models
