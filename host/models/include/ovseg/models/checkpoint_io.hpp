#pragma once
// Reading and writing checkpoint files as they are published:
//  * TorchScript archives (OpenAI's ViT-B-16.pt etc.): parameters and buffers
//    of the scripted module, named as in its Python state_dict().
//  * PyTorch zip state dicts (torch.save(state_dict), e.g. SAM's .pth):
//    torch::pickle_load, falling back to our own unpickler for files written
//    by Python (LibTorch 1.13 turns collections.OrderedDict into None).
//    A dict wrapping the weights under "state_dict" or "model" is unwrapped.
//  * safetensors: our own reader/writer (no JSON dependency).
// The format is detected from the file's content, not its extension. Keys are
// returned as stored (no layout mapping; see clip_checkpoint.hpp for CLIP).

#include <ovseg/models/state_dict.hpp>

#include <cstdint>
#include <map>
#include <string>

namespace ovseg::models {

enum class CheckpointFormat { TorchScript, TorchZipStateDict, SafeTensors, LegacyTorchPickle, Unknown };
const char* to_string(CheckpointFormat f);

// Looks at the first bytes (and for zip archives the record names).
// Throws CheckpointError if the file cannot be opened.
CheckpointFormat detect_checkpoint_format(const std::string& path);

// Any supported format; tensors on the CPU in their stored dtype.
StateDict load_state_dict(const std::string& path);

StateDict load_torchscript_state_dict(const std::string& path);
StateDict load_torch_zip_state_dict(const std::string& path);
StateDict load_safetensors(const std::string& path, std::map<std::string, std::string>* metadata = nullptr);

// A single tensor saved with torch.save(tensor) (zip format), e.g. the
// precomputed CLIP text embeddings in ../shared/data. Always on the CPU, even
// if it was saved from cuda:0.
at::Tensor load_torch_tensor(const std::string& path);

// Writers (used by tests, benchmarks and demos to build real-layout files).
// Tensors are written contiguous from the CPU.
void save_safetensors(const std::string& path, const StateDict& sd,
                      const std::map<std::string, std::string>& metadata = {});
// torch::pickle_save of a dict (readable by Python's torch.load too).
void save_state_dict_zip(const std::string& path, const StateDict& sd);
// A TorchScript archive whose module tree mirrors the dotted names
// ("visual.transformer.resblocks.0.attn.in_proj_weight" -> submodules visual,
// transformer, resblocks, 0, attn holding parameter in_proj_weight), like the
// archives OpenAI published. Integer tensors are registered as buffers.
void save_torchscript_state_dict(const std::string& path, const StateDict& sd);
// One of the three by the file name: .safetensors, .pt (TorchScript), .pth or
// .bin (zip state dict). Throws std::invalid_argument for another extension.
void save_checkpoint(const std::string& path, const StateDict& sd,
                     const std::map<std::string, std::string>& safetensors_metadata = {});

}  // namespace ovseg::models
