// safetensors reader and writer (https://github.com/huggingface/safetensors):
//   u64 little-endian N | N bytes of JSON header | raw little-endian data
// The header maps tensor names to {"dtype","shape","data_offsets":[begin,end]}
// (offsets relative to the data section) plus an optional "__metadata__"
// string->string map. A tiny JSON parser is enough for this header and keeps
// the project free of a JSON dependency.
#include <ovseg/models/checkpoint_io.hpp>

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

// ------------------------------------------------------------- tiny JSON
struct Json {
  enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
  bool b = false;
  double num = 0;
  std::string raw_number;  // exact text, so 64-bit offsets keep every digit
  std::string str;
  std::vector<Json> items;
  std::vector<std::pair<std::string, Json>> members;
  const Json* get(const std::string& k) const {
    for (const auto& m : members)
      if (m.first == k) return &m.second;
    return nullptr;
  }
};

class JsonParser {
 public:
  JsonParser(const std::string& text, const std::string& path) : s_(text), path_(path) {}
  Json parse() {
    Json v = value(0);
    ws();
    if (i_ != s_.size()) error("trailing characters after the JSON header");
    return v;
  }

 private:
  [[noreturn]] void error(const std::string& what) {
    fail(path_, "corrupt JSON header at byte " + std::to_string(i_) + ": " + what);
  }
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  char peek() {
    ws();
    if (i_ >= s_.size()) error("unexpected end");
    return s_[i_];
  }
  void expect(char c) {
    if (peek() != c) error(std::string("expected '") + c + "'");
    ++i_;
  }
  Json value(int depth) {
    if (depth > 64) error("nesting too deep");
    Json v;
    const char c = peek();
    if (c == '{') {
      v.kind = Json::Object;
      ++i_;
      if (peek() == '}') { ++i_; return v; }
      for (;;) {
        if (peek() != '"') error("expected a string key");
        std::string k = string();
        expect(':');
        v.members.emplace_back(std::move(k), value(depth + 1));
        if (peek() == ',') { ++i_; continue; }
        expect('}');
        return v;
      }
    }
    if (c == '[') {
      v.kind = Json::Array;
      ++i_;
      if (peek() == ']') { ++i_; return v; }
      for (;;) {
        v.items.push_back(value(depth + 1));
        if (peek() == ',') { ++i_; continue; }
        expect(']');
        return v;
      }
    }
    if (c == '"') { v.kind = Json::String; v.str = string(); return v; }
    if (s_.compare(i_, 4, "true") == 0) { i_ += 4; v.kind = Json::Bool; v.b = true; return v; }
    if (s_.compare(i_, 5, "false") == 0) { i_ += 5; v.kind = Json::Bool; return v; }
    if (s_.compare(i_, 4, "null") == 0) { i_ += 4; return v; }
    if (c == '-' || (c >= '0' && c <= '9')) {
      const size_t start = i_;
      while (i_ < s_.size() && std::strchr("+-0123456789.eE", s_[i_])) ++i_;
      v.kind = Json::Number;
      v.raw_number = s_.substr(start, i_ - start);
      v.num = std::strtod(v.raw_number.c_str(), nullptr);
      return v;
    }
    error(std::string("unexpected character '") + c + "'");
  }
  void utf8(uint32_t cp, std::string& out) {
    if (cp < 0x80) out += char(cp);
    else if (cp < 0x800) { out += char(0xC0 | (cp >> 6)); out += char(0x80 | (cp & 0x3F)); }
    else if (cp < 0x10000) { out += char(0xE0 | (cp >> 12)); out += char(0x80 | ((cp >> 6) & 0x3F)); out += char(0x80 | (cp & 0x3F)); }
    else { out += char(0xF0 | (cp >> 18)); out += char(0x80 | ((cp >> 12) & 0x3F)); out += char(0x80 | ((cp >> 6) & 0x3F)); out += char(0x80 | (cp & 0x3F)); }
  }
  uint32_t hex4() {
    if (i_ + 4 > s_.size()) error("truncated \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      const char h = s_[i_++];
      v <<= 4;
      if (h >= '0' && h <= '9') v |= h - '0';
      else if (h >= 'a' && h <= 'f') v |= h - 'a' + 10;
      else if (h >= 'A' && h <= 'F') v |= h - 'A' + 10;
      else error("bad \\u escape");
    }
    return v;
  }
  std::string string() {
    ++i_;  // opening quote
    std::string out;
    while (i_ < s_.size() && s_[i_] != '"') {
      char c = s_[i_++];
      if (c != '\\') { out += c; continue; }
      if (i_ >= s_.size()) break;
      c = s_[i_++];
      switch (c) {
        case '"': case '\\': case '/': out += c; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = hex4();
          if (cp >= 0xD800 && cp < 0xDC00 && s_.compare(i_, 2, "\\u") == 0) {
            i_ += 2;
            const uint32_t lo = hex4();
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          utf8(cp, out);
          break;
        }
        default: error("bad escape");
      }
    }
    if (i_ >= s_.size()) error("unterminated string");
    ++i_;
    return out;
  }
  const std::string& s_;
  const std::string& path_;
  size_t i_ = 0;
};

std::string json_escape(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') { out += '\\'; out += char(c); }
    else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else out += char(c);
  }
  return out + "\"";
}

// ------------------------------------------------------------- dtypes
struct DtypeName { const char* name; at::ScalarType type; };
const DtypeName kDtypes[] = {
    {"F32", at::kFloat}, {"F16", at::kHalf}, {"BF16", at::kBFloat16}, {"F64", at::kDouble},
    {"I64", at::kLong},  {"I32", at::kInt},  {"I16", at::kShort},     {"I8", at::kChar},
    {"U8", at::kByte},   {"BOOL", at::kBool},
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

uint64_t json_u64(const Json& v, const std::string& path, const std::string& key, const char* field) {
  if (v.kind != Json::Number || v.raw_number.find_first_of(".eE-") != std::string::npos)
    fail(path, "tensor '" + key + "': '" + field + "' must hold non-negative integers");
  return std::stoull(v.raw_number);
}

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
    fail(path, "truncated or corrupt: header length " + std::to_string(header_len) +
                   " exceeds the file size " + std::to_string(file_size));
  std::string header(header_len, '\0');
  if (std::fread(header.data(), 1, header_len, f.get()) != header_len) fail(path, "truncated header");
  const Json root = JsonParser(header, path).parse();
  if (root.kind != Json::Object) fail(path, "corrupt header: not a JSON object");
  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = static_cast<uint64_t>(file_size) - data_start;

  StateDict sd;
  for (const auto& m : root.members) {
    const std::string& key = m.first;
    if (key == "__metadata__") {
      if (m.second.kind != Json::Object) fail(path, "'__metadata__' is not an object");
      if (metadata)
        for (const auto& kv : m.second.members)
          if (kv.second.kind == Json::String) (*metadata)[kv.first] = kv.second.str;
      continue;
    }
    const Json* dt = m.second.get("dtype");
    const Json* shape = m.second.get("shape");
    const Json* offs = m.second.get("data_offsets");
    if (!dt || dt->kind != Json::String || !shape || shape->kind != Json::Array || !offs ||
        offs->kind != Json::Array || offs->items.size() != 2)
      fail(path, "corrupt header entry for tensor '" + key + "' (needs dtype, shape, data_offsets)");
    const at::ScalarType type = dtype_from_name(dt->str, path, key);
    std::vector<int64_t> sizes;
    uint64_t numel = 1;
    for (const auto& d : shape->items) {
      sizes.push_back(static_cast<int64_t>(json_u64(d, path, key, "shape")));
      numel *= static_cast<uint64_t>(sizes.back());
    }
    const uint64_t begin = json_u64(offs->items[0], path, key, "data_offsets");
    const uint64_t end = json_u64(offs->items[1], path, key, "data_offsets");
    const uint64_t nbytes = numel * c10::elementSize(type);
    if (end < begin || end - begin != nbytes)
      fail(path, "tensor '" + key + "': data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                     "] do not match shape " + shape_string(sizes) + " of " + dt->str);
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
