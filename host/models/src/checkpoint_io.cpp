// Format detection and the TorchScript / PyTorch-zip loaders and writers.
// (safetensors lives in safetensors.cpp, the fallback unpickler in
// torch_pickle.cpp.) This is the only file of the library that includes the
// TorchScript headers.
#include <ovseg/models/checkpoint_io.hpp>

#include "torch_pickle.hpp"

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/script.h>

#include <cstdio>
#include <fstream>
#include <memory>

namespace ovseg::models {
namespace {

std::string first_line(const char* msg) {
  std::string s(msg);
  const auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

std::vector<char> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CheckpointError("checkpoint '" + path + "': cannot open file (missing or unreadable)");
  in.seekg(0, std::ios::end);
  std::vector<char> bytes(static_cast<size_t>(in.tellg()));
  in.seekg(0);
  if (!bytes.empty() && !in.read(bytes.data(), static_cast<std::streamsize>(bytes.size())))
    throw CheckpointError("checkpoint '" + path + "': read error");
  return bytes;
}

bool is_zip_torchscript(const std::string& path) {
  try {
    caffe2::serialize::PyTorchStreamReader reader(path);
    // torch.jit.save writes constants.pkl and code/; torch.save does not.
    if (reader.hasRecord("constants.pkl")) return true;
    for (const auto& r : reader.getAllRecords())
      if (r.compare(0, 5, "code/") == 0) return true;
    return false;
  } catch (const c10::Error& e) {
    throw CheckpointError("checkpoint '" + path + "': corrupt or truncated zip archive (" +
                          first_line(e.what_without_backtrace()) + ")");
  }
}

// Converts torch::pickle_load's result (dict, possibly wrapping the weights
// under "state_dict"/"model") to a StateDict; false if it holds no tensors.
bool ivalue_to_state_dict(const c10::IValue& v, StateDict& out, int depth = 0) {
  if (!v.isGenericDict()) return false;
  const auto dict = v.toGenericDict();
  for (const auto& kv : dict)
    if (kv.key().isString() && kv.value().isTensor()) out[kv.key().toStringRef()] = kv.value().toTensor();
  if (!out.empty() || depth > 0) return !out.empty();
  for (const char* wrapper : {"state_dict", "model"})
    for (const auto& kv : dict)
      if (kv.key().isString() && kv.key().toStringRef() == wrapper && ivalue_to_state_dict(kv.value(), out, 1))
        return true;
  return false;
}

}  // namespace

const char* to_string(CheckpointFormat f) {
  switch (f) {
    case CheckpointFormat::TorchScript: return "TorchScript archive";
    case CheckpointFormat::TorchZipStateDict: return "PyTorch zip state dict";
    case CheckpointFormat::SafeTensors: return "safetensors";
    case CheckpointFormat::LegacyTorchPickle: return "legacy (pre-1.6) torch.save pickle";
    case CheckpointFormat::Unknown: break;
  }
  return "unknown";
}

CheckpointFormat detect_checkpoint_format(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) throw CheckpointError("checkpoint '" + path + "': cannot open file (missing or unreadable)");
  unsigned char head[9] = {0};
  const size_t n = std::fread(head, 1, sizeof head, f.get());
  std::fseek(f.get(), 0, SEEK_END);
  const long long size = std::ftell(f.get());
  if (n >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4)
    return is_zip_torchscript(path) ? CheckpointFormat::TorchScript : CheckpointFormat::TorchZipStateDict;
  if (n == 9) {
    uint64_t len = 0;
    for (int i = 7; i >= 0; --i) len = (len << 8) | head[i];
    // safetensors: a little-endian header length followed by a JSON object.
    // (Length vs file size is checked by the reader, to report truncation.)
    if (head[8] == '{' && len >= 2 && len < (uint64_t(1) << 32)) return CheckpointFormat::SafeTensors;
  }
  // Pre-1.6 torch.save: a pickle (PROTO opcode) of a magic number first.
  if (n >= 2 && head[0] == 0x80 && head[1] <= 5 && size > 16) return CheckpointFormat::LegacyTorchPickle;
  return CheckpointFormat::Unknown;
}

StateDict load_state_dict(const std::string& path) {
  switch (detect_checkpoint_format(path)) {
    case CheckpointFormat::TorchScript: return load_torchscript_state_dict(path);
    case CheckpointFormat::TorchZipStateDict: return load_torch_zip_state_dict(path);
    case CheckpointFormat::SafeTensors: return load_safetensors(path);
    case CheckpointFormat::LegacyTorchPickle:
      throw CheckpointError("checkpoint '" + path +
                            "': legacy (pre-1.6, non-zip) torch.save format is not supported; re-save it "
                            "with a recent PyTorch (torch.save(torch.load(f), f2)) or as safetensors");
    case CheckpointFormat::Unknown: break;
  }
  throw CheckpointError("checkpoint '" + path +
                        "': not a recognised checkpoint (expected a TorchScript or PyTorch zip archive, or "
                        "a safetensors file)");
}

StateDict load_torchscript_state_dict(const std::string& path) {
  torch::jit::Module module;
  try {
    module = torch::jit::load(path, c10::Device(c10::kCPU));
  } catch (const c10::Error& e) {
    throw CheckpointError("TorchScript checkpoint '" + path + "': cannot load (" +
                          first_line(e.what_without_backtrace()) + ")");
  } catch (const std::exception& e) {
    throw CheckpointError("TorchScript checkpoint '" + path + "': cannot load (" + first_line(e.what()) + ")");
  }
  // Same names as the Python module's state_dict(): dotted submodule paths.
  StateDict sd;
  for (const auto& p : module.named_parameters(/*recurse=*/true)) sd[p.name] = p.value.detach();
  for (const auto& b : module.named_buffers(/*recurse=*/true)) sd[b.name] = b.value.detach();
  if (sd.empty()) throw CheckpointError("TorchScript checkpoint '" + path + "': module has no parameters");
  return sd;
}

StateDict load_torch_zip_state_dict(const std::string& path) {
  std::vector<char> bytes = read_file(path);
  std::string pickle_error;
  try {
    StateDict sd;
    if (ivalue_to_state_dict(torch::jit::pickle_load(bytes), sd)) return sd;
    pickle_error = "no tensors in the loaded object";
  } catch (const c10::Error& e) {
    pickle_error = first_line(e.what_without_backtrace());
  } catch (const std::exception& e) {
    pickle_error = first_line(e.what());
  }
  bytes.clear();
  bytes.shrink_to_fit();
  if (pickle_error.size() > 160) pickle_error = pickle_error.substr(0, 157) + "...";
  // Files written by Python's torch.save (OrderedDict state dicts) land here.
  try {
    return detail::read_torch_zip_pickle(path);
  } catch (const CheckpointError& e) {
    throw CheckpointError(std::string(e.what()) + " [torch::pickle_load also failed: " + pickle_error + "]");
  }
}

at::Tensor load_torch_tensor(const std::string& path) {
  const CheckpointFormat f = detect_checkpoint_format(path);
  if (f != CheckpointFormat::TorchZipStateDict)
    throw CheckpointError("PyTorch file '" + path + "': expected a torch.save zip archive, found " +
                          std::string(to_string(f)));
  // Our unpickler, not torch::pickle_load: LibTorch 1.13 would try to restore
  // a cuda:0 storage on the GPU.
  return detail::read_torch_zip_tensor(path);
}

void save_state_dict_zip(const std::string& path, const StateDict& sd) {
  c10::impl::GenericDict dict(c10::StringType::get(), c10::TensorType::get());
  for (const auto& kv : sd) dict.insert(kv.first, kv.second.detach().to(at::kCPU).contiguous());
  const std::vector<char> bytes = torch::jit::pickle_save(dict);
  std::ofstream out(path, std::ios::binary);
  if (!out.write(bytes.data(), static_cast<std::streamsize>(bytes.size())))
    throw CheckpointError("save_state_dict_zip: cannot write '" + path + "'");
}

void save_torchscript_state_dict(const std::string& path, const StateDict& sd) {
  // Build the module tree from dotted names, root first; jit::Module is a
  // handle, so children registered before their own children still see them.
  int counter = 0;
  auto new_module = [&counter]() {
    return torch::jit::Module(c10::QualifiedName("__torch__.ovseg_checkpoint.Module" + std::to_string(counter++)));
  };
  torch::jit::Module root = new_module();
  std::map<std::string, torch::jit::Module> modules;  // dotted path -> module
  modules.emplace("", root);
  for (const auto& kv : sd) {
    const std::string& name = kv.first;
    const auto last_dot = name.rfind('.');
    const std::string parent_path = last_dot == std::string::npos ? "" : name.substr(0, last_dot);
    const std::string leaf = last_dot == std::string::npos ? name : name.substr(last_dot + 1);
    // Create missing ancestors.
    std::string so_far;
    torch::jit::Module parent = root;
    size_t start = 0;
    while (start < parent_path.size()) {
      size_t dot = parent_path.find('.', start);
      if (dot == std::string::npos) dot = parent_path.size();
      const std::string part = parent_path.substr(start, dot - start);
      so_far = so_far.empty() ? part : so_far + "." + part;
      auto it = modules.find(so_far);
      if (it == modules.end()) {
        torch::jit::Module child = new_module();
        parent.register_module(part, child);
        it = modules.emplace(so_far, child).first;
      }
      parent = it->second;
      start = dot + 1;
    }
    at::Tensor t = kv.second.detach().to(at::kCPU).contiguous();
    parent.register_parameter(leaf, t, /*is_buffer=*/!t.is_floating_point());
  }
  try {
    root.save(path);
  } catch (const c10::Error& e) {
    throw CheckpointError("save_torchscript_state_dict: cannot write '" + path + "' (" +
                          first_line(e.what_without_backtrace()) + ")");
  }
}

void save_checkpoint(const std::string& path, const StateDict& sd,
                     const std::map<std::string, std::string>& safetensors_metadata) {
  auto ends_with = [&](const std::string& suffix) {
    return path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends_with(".safetensors")) return save_safetensors(path, sd, safetensors_metadata);
  if (ends_with(".pt")) return save_torchscript_state_dict(path, sd);
  if (ends_with(".pth") || ends_with(".bin")) return save_state_dict_zip(path, sd);
  throw std::invalid_argument("'" + path +
                              "' must end in .pt (TorchScript), .safetensors or .pth / .bin (zip state dict)");
}

}  // namespace ovseg::models
