#pragma once
// Private to libovseg_models: our own reader for PyTorch zip checkpoints
// (torch.save with the zip format, the default since PyTorch 1.6).
//
// Why it exists: LibTorch 1.13's torch::pickle_load maps
// collections.OrderedDict to None (it only expected OrderedDicts as empty
// backward-hook placeholders), so the state dicts Python writes with
// torch.save(model.state_dict()) -- SAM's sam_vit_b_01ec64.pth, open_clip's
// .pt/.bin -- cannot be read with it. This unpickler implements the pickle
// opcodes torch.save emits, rebuilds tensors from the archive's data/<key>
// records, and treats any other Python object it does not know as opaque.

#include <ovseg/models/state_dict.hpp>

#include <string>

namespace ovseg::models::detail {

// Reads data.pkl of the zip archive at `path` and returns its tensors: the
// top-level dict's tensor entries, or those of a dict stored under
// "state_dict" or "model" when the top level holds no tensors.
StateDict read_torch_zip_pickle(const std::string& path);

// For torch.save(tensor) files (e.g. precomputed text embeddings). Storages
// are always materialised on the CPU, whatever location they were saved from.
at::Tensor read_torch_zip_tensor(const std::string& path);

}  // namespace ovseg::models::detail
