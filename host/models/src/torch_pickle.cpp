// A minimal pickle virtual machine for PyTorch zip checkpoints; see
// torch_pickle.hpp for why LibTorch's own unpickler is not enough.
// Layout of such an archive (any top-level folder name):
//   <name>/data.pkl      pickle (protocol 2+) of the saved object
//   <name>/data/<key>    raw little-endian bytes of each storage
// Tensors appear in the pickle as
//   torch._utils._rebuild_tensor_v2(<persistent id>, offset, size, stride, ...)
// with persistent id ('storage', torch.<Type>Storage, key, location, numel).
#include "torch_pickle.hpp"

#include <caffe2/serialize/inline_container.h>
#include <c10/util/Exception.h>

#include <cstring>
#include <memory>
#include <unordered_map>

namespace ovseg::models::detail {
namespace {

struct PyVal;
using PyPtr = std::shared_ptr<PyVal>;
struct PyVal {
  enum Kind { None, Bool, Int, Float, Str, Bytes, Tuple, List, Dict, Global, Tensor, Object } kind = None;
  int64_t i = 0;
  double f = 0;
  std::string s;  // Str/Bytes payload; Global/Object: "module.name"
  std::vector<PyPtr> items;
  std::vector<std::pair<PyPtr, PyPtr>> dict;
  at::Tensor tensor;  // Tensor (also used for storages: 1-d, whole storage)
};

PyPtr make(PyVal::Kind k) {
  auto p = std::make_shared<PyVal>();
  p->kind = k;
  return p;
}

at::ScalarType storage_dtype(const std::string& type_name, bool* ok) {
  static const std::pair<const char*, at::ScalarType> kTypes[] = {{"torch.FloatStorage", at::kFloat},
                                                                  {"torch.HalfStorage", at::kHalf},
                                                                  {"torch.BFloat16Storage", at::kBFloat16},
                                                                  {"torch.DoubleStorage", at::kDouble},
                                                                  {"torch.LongStorage", at::kLong},
                                                                  {"torch.IntStorage", at::kInt},
                                                                  {"torch.ShortStorage", at::kShort},
                                                                  {"torch.CharStorage", at::kChar},
                                                                  {"torch.ByteStorage", at::kByte},
                                                                  {"torch.BoolStorage", at::kBool},
                                                                  {"torch.ComplexFloatStorage", at::kComplexFloat},
                                                                  {"torch.ComplexDoubleStorage", at::kComplexDouble}};
  for (const auto& t : kTypes)
    if (type_name == t.first) {
      *ok = true;
      return t.second;
    }
  *ok = false;
  return at::kFloat;
}

class Unpickler {
 public:
  Unpickler(const std::string& path, caffe2::serialize::PyTorchStreamReader& reader, const char* data, size_t size)
      : path_(path), reader_(reader), p_(data), end_(data + size), begin_(data) {}

  PyPtr run() {
    for (;;) {
      const uint8_t op = u8();
      switch (op) {
        case 0x80: u8(); break;      // PROTO
        case 0x95: bytes(8); break;  // FRAME (length is a hint only)
        case '.':                    // STOP
          if (stack_.empty()) error("empty stack at STOP");
          return stack_.back();
        case '(': marks_.push_back(stack_.size()); break;
        case 'N': push(make(PyVal::None)); break;
        case 0x88:
        case 0x89: {
          auto v = make(PyVal::Bool);
          v->i = op == 0x88;
          push(v);
          break;
        }
        case 'J': {
          int32_t x;
          std::memcpy(&x, bytes(4), 4);
          push_int(x);
          break;
        }
        case 'K': push_int(u8()); break;
        case 'M': {
          uint16_t x;
          std::memcpy(&x, bytes(2), 2);
          push_int(x);
          break;
        }
        case 0x8a: push_int(long_bytes(u8())); break;            // LONG1
        case 0x8b: push_int(long_bytes(le<uint32_t>())); break;  // LONG4
        case 'G': {                                              // BINFLOAT, big-endian
          const char* b = bytes(8);
          uint64_t bits = 0;
          for (int k = 0; k < 8; ++k) bits = (bits << 8) | uint8_t(b[k]);
          auto v = make(PyVal::Float);
          std::memcpy(&v->f, &bits, 8);
          push(v);
          break;
        }
        case 'X': push_str(PyVal::Str, le<uint32_t>()); break;     // BINUNICODE
        case 0x8c: push_str(PyVal::Str, u8()); break;              // SHORT_BINUNICODE
        case 0x8d: push_str(PyVal::Str, le<uint64_t>()); break;    // BINUNICODE8
        case 'T': push_str(PyVal::Str, le<uint32_t>()); break;     // BINSTRING
        case 'U': push_str(PyVal::Str, u8()); break;               // SHORT_BINSTRING
        case 'B': push_str(PyVal::Bytes, le<uint32_t>()); break;   // BINBYTES
        case 'C': push_str(PyVal::Bytes, u8()); break;             // SHORT_BINBYTES
        case 0x8e: push_str(PyVal::Bytes, le<uint64_t>()); break;  // BINBYTES8
        case '}': push(make(PyVal::Dict)); break;
        case ']': push(make(PyVal::List)); break;
        case ')': push(make(PyVal::Tuple)); break;
        case 'c': {  // GLOBAL
          auto g = make(PyVal::Global);
          const std::string module = line();
          g->s = module + "." + line();
          push(g);
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          auto name = pop(), module = pop();
          auto g = make(PyVal::Global);
          g->s = module->s + "." + name->s;
          push(g);
          break;
        }
        case 'q': memo_[u8()] = top(); break;            // BINPUT
        case 'r': memo_[le<uint32_t>()] = top(); break;  // LONG_BINPUT
        case 0x94: memo_[memo_.size()] = top(); break;   // MEMOIZE
        case 'h': push(get(u8())); break;                // BINGET
        case 'j': push(get(le<uint32_t>())); break;      // LONG_BINGET
        case 't': {
          auto t = make(PyVal::Tuple);
          t->items = pop_mark();
          push(t);
          break;
        }
        case 0x85:
        case 0x86:
        case 0x87: {  // TUPLE1..3
          auto t = make(PyVal::Tuple);
          const int n = op - 0x84;
          check_depth(n);
          t->items.assign(stack_.end() - n, stack_.end());
          stack_.resize(stack_.size() - n);
          push(t);
          break;
        }
        case 'l': {
          auto t = make(PyVal::List);
          t->items = pop_mark();
          push(t);
          break;
        }
        case 'd': {
          auto d = make(PyVal::Dict);
          fill_dict(d, pop_mark());
          push(d);
          break;
        }
        case 'a': {
          auto v = pop();
          top()->items.push_back(v);
          break;
        }  // APPEND
        case 'e': {
          auto vs = pop_mark();
          auto& l = top()->items;
          l.insert(l.end(), vs.begin(), vs.end());
          break;
        }
        case 's': {
          auto v = pop(), k = pop();
          fill_dict(top(), {k, v});
          break;
        }  // SETITEM
        case 'u': {
          auto kvs = pop_mark();
          fill_dict(top(), kvs);
          break;
        }                                           // SETITEMS
        case 0x8f: push(make(PyVal::List)); break;  // EMPTY_SET (kept as a list)
        case 0x90: {
          auto vs = pop_mark();
          auto& l = top()->items;
          l.insert(l.end(), vs.begin(), vs.end());
          break;
        }  // ADDITEMS
        case 0x91: {
          auto t = make(PyVal::List);
          t->items = pop_mark();
          push(t);
          break;
        }                                          // FROZENSET
        case 'Q': push(persistent(pop())); break;  // BINPERSID
        case 'R': {
          auto args = pop(), fn = pop();
          push(reduce(fn, args));
          break;
        }
        case 0x81: {  // NEWOBJ
          pop();      // constructor arguments: not needed for an opaque object
          auto cls = pop();
          auto o = make(PyVal::Object);
          o->s = cls->s;
          push(o);
          break;
        }
        case 'b': pop(); break;  // BUILD: object state (e.g. a state dict's _metadata) is not needed
        case '0': pop(); break;
        case '1': pop_mark(); break;
        case '2': push(top()); break;
        default: {
          char buf[64];
          std::snprintf(buf, sizeof buf, "unsupported pickle opcode 0x%02x at byte %zu", op,
                        static_cast<size_t>(p_ - 1 - begin_));
          error(buf);
        }
      }
    }
  }

 private:
  [[noreturn]] void error(const std::string& what) {
    throw CheckpointError("PyTorch checkpoint '" + path_ + "': data.pkl: " + what);
  }
  const char* bytes(size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) error("truncated pickle");
    const char* r = p_;
    p_ += n;
    return r;
  }
  uint8_t u8() { return static_cast<uint8_t>(*bytes(1)); }
  template <typename T>
  T le() {
    const char* b = bytes(sizeof(T));
    T v = 0;
    for (size_t k = 0; k < sizeof(T); ++k) v |= T(uint8_t(b[k])) << (8 * k);
    return v;
  }
  int64_t long_bytes(size_t n) {
    if (n > 8) error("integer too large");
    const char* b = bytes(n);
    uint64_t v = 0;
    for (size_t k = 0; k < n; ++k) v |= uint64_t(uint8_t(b[k])) << (8 * k);
    if (n && n < 8 && (uint8_t(b[n - 1]) & 0x80)) v |= ~uint64_t(0) << (8 * n);  // sign-extend
    return static_cast<int64_t>(v);
  }
  std::string line() {
    const char* nl = static_cast<const char*>(std::memchr(p_, '\n', end_ - p_));
    if (!nl) error("truncated GLOBAL");
    std::string s(p_, nl);
    p_ = nl + 1;
    return s;
  }
  void push(PyPtr v) { stack_.push_back(std::move(v)); }
  void push_int(int64_t x) {
    auto v = make(PyVal::Int);
    v->i = x;
    push(v);
  }
  void push_str(PyVal::Kind k, uint64_t n) {
    auto v = make(k);
    const char* b = bytes(n);
    v->s.assign(b, n);
    push(v);
  }
  void check_depth(size_t n) {
    if (stack_.size() < n || (!marks_.empty() && stack_.size() - n < marks_.back())) error("stack underflow");
  }
  PyPtr pop() {
    check_depth(1);
    auto v = stack_.back();
    stack_.pop_back();
    return v;
  }
  PyPtr top() {
    check_depth(1);
    return stack_.back();
  }
  PyPtr get(size_t k) {
    auto it = memo_.find(k);
    if (it == memo_.end()) error("memo key " + std::to_string(k) + " not found");
    return it->second;
  }
  std::vector<PyPtr> pop_mark() {
    if (marks_.empty()) error("MARK expected");
    const size_t m = marks_.back();
    marks_.pop_back();
    std::vector<PyPtr> v(stack_.begin() + m, stack_.end());
    stack_.resize(m);
    return v;
  }
  void fill_dict(const PyPtr& d, const std::vector<PyPtr>& kvs) {
    if (d->kind != PyVal::Dict) {
      if (d->kind == PyVal::Object) return;  // dict-like object we do not model
      error("SETITEM on a non-dict");
    }
    for (size_t k = 0; k + 1 < kvs.size(); k += 2) d->dict.emplace_back(kvs[k], kvs[k + 1]);
  }

  PyPtr persistent(const PyPtr& pid) {
    if (pid->kind != PyVal::Tuple || pid->items.size() < 3 || pid->items[0]->s != "storage")
      error("unexpected persistent id (not a storage)");
    const std::string& type_name = pid->items[1]->s;
    const std::string& key = pid->items[2]->s;
    auto cached = storages_.find(key);
    if (cached != storages_.end()) return cached->second;
    bool ok = false;
    const at::ScalarType dtype = storage_dtype(type_name, &ok);
    if (!ok) error("unsupported storage type '" + type_name + "'");
    const std::string record = "data/" + key;
    if (!reader_.hasRecord(record)) error("storage record '" + record + "' is missing from the archive");
    at::DataPtr data;
    size_t nbytes = 0;
    std::tie(data, nbytes) = reader_.getRecord(record);
    const size_t item = c10::elementSize(dtype);
    if (nbytes % item) error("storage record '" + record + "' has a size that is not a whole number of elements");
    auto storage = make(PyVal::Tensor);
    storage->tensor = at::empty({static_cast<int64_t>(nbytes / item)}, at::TensorOptions().dtype(dtype));
    if (nbytes) std::memcpy(storage->tensor.data_ptr(), data.get(), nbytes);
    storages_[key] = storage;
    return storage;
  }

  std::vector<int64_t> ints(const PyPtr& t, const char* what) {
    std::vector<int64_t> v;
    for (const auto& x : t->items) {
      if (x->kind != PyVal::Int) error(std::string("non-integer ") + what);
      v.push_back(x->i);
    }
    return v;
  }

  PyPtr reduce(const PyPtr& fn, const PyPtr& args) {
    const std::string name = fn->kind == PyVal::Global ? fn->s : std::string();
    const auto& a = args->items;
    if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
      if (a.size() < 4 || a[0]->kind != PyVal::Tensor) error("malformed " + name + " call");
      const auto size = ints(a[2], "tensor size"), stride = ints(a[3], "tensor stride");
      const int64_t offset = a[1]->i;
      int64_t last = offset;
      for (size_t d = 0; d < size.size(); ++d)
        if (size[d] > 0) last += (size[d] - 1) * stride[d];
      bool empty = false;
      for (int64_t s : size) empty = empty || s == 0;
      if (!empty && last >= a[0]->tensor.numel()) error("tensor view runs past the end of its storage");
      auto t = make(PyVal::Tensor);
      t->tensor = a[0]->tensor.as_strided(size, stride, offset);
      return t;
    }
    if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state") {
      if (a.empty() || a[0]->kind != PyVal::Tensor) error("malformed " + name + " call");
      return a[0];
    }
    if (name == "torch._tensor._rebuild_from_type_v2") {
      // (func, new_type, args, state): rebuild with func(*args), drop the subclass.
      if (a.size() < 3) error("malformed " + name + " call");
      return reduce(a[0], a[2]);
    }
    if (name == "collections.OrderedDict" || name == "builtins.dict") {
      auto d = make(PyVal::Dict);
      if (!a.empty() && a[0]->kind == PyVal::List)
        for (const auto& pair : a[0]->items)
          if (pair->items.size() == 2) d->dict.emplace_back(pair->items[0], pair->items[1]);
      return d;
    }
    auto o = make(PyVal::Object);  // anything else (argparse.Namespace, torch.device, ...)
    o->s = name;
    return o;
  }

  std::string path_;
  caffe2::serialize::PyTorchStreamReader& reader_;
  const char* p_;
  const char* end_;
  const char* begin_;
  std::vector<PyPtr> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<size_t, PyPtr> memo_;
  std::unordered_map<std::string, PyPtr> storages_;
};

bool collect(const PyPtr& d, StateDict& out) {
  for (const auto& kv : d->dict)
    if (kv.first->kind == PyVal::Str && kv.second->kind == PyVal::Tensor) out[kv.first->s] = kv.second->tensor;
  return !out.empty();
}

// Opens the archive and runs data.pkl; the reader must outlive nothing else.
PyPtr unpickle_archive(const std::string& path) {
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
  try {
    reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
  } catch (const c10::Error& e) {
    std::string msg = e.what_without_backtrace();
    msg = msg.substr(0, msg.find('\n'));
    throw CheckpointError("PyTorch checkpoint '" + path + "': corrupt or truncated zip archive (" + msg + ")");
  }
  if (!reader->hasRecord("data.pkl"))
    throw CheckpointError("PyTorch checkpoint '" + path + "': zip archive has no data.pkl record");
  if (reader->hasRecord("byteorder")) {  // written since PyTorch 2.1
    at::DataPtr bo;
    size_t n = 0;
    std::tie(bo, n) = reader->getRecord("byteorder");
    if (std::string(static_cast<const char*>(bo.get()), n) != "little")
      throw CheckpointError("PyTorch checkpoint '" + path + "': big-endian storages are not supported");
  }
  at::DataPtr data;
  size_t size = 0;
  std::tie(data, size) = reader->getRecord("data.pkl");
  Unpickler up(path, *reader, static_cast<const char*>(data.get()), size);
  return up.run();
}

}  // namespace

StateDict read_torch_zip_pickle(const std::string& path) {
  PyPtr root = unpickle_archive(path);
  if (root->kind != PyVal::Dict)
    throw CheckpointError("PyTorch checkpoint '" + path +
                          "': the saved object is not a dict (a state dict was expected)");
  StateDict sd;
  if (collect(root, sd)) return sd;
  for (const char* wrapper : {"state_dict", "model"})
    for (const auto& kv : root->dict)
      if (kv.first->kind == PyVal::Str && kv.first->s == wrapper && kv.second->kind == PyVal::Dict &&
          collect(kv.second, sd))
        return sd;
  throw CheckpointError("PyTorch checkpoint '" + path +
                        "': no tensors found (neither at the top level nor under 'state_dict' or 'model')");
}

at::Tensor read_torch_zip_tensor(const std::string& path) {
  PyPtr root = unpickle_archive(path);
  if (root->kind != PyVal::Tensor)
    throw CheckpointError("PyTorch file '" + path + "': the saved object is not a tensor");
  return root->tensor;
}

}  // namespace ovseg::models::detail
