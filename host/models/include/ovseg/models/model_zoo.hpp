// The model zoo: published checkpoints by name (openai:ViT-B/16 -> file,
// URL, sha256, format) and the local cache folder they live in. Nothing here
// downloads except fetch_model(), which only the `ovseg fetch-model` command
// calls.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace ovseg::models {

struct ZooEntry {
  std::string name;  // "openai:ViT-B/16"
  std::string file;  // "ViT-B-16.pt"
  std::string url;
  std::string sha256;  // lower-case hex of the whole file
  std::string format;  // "torchscript", "safetensors", "state-dict-zip", "bpe-vocab",
                       // "embedded" (shipped in host/models/embedded; nothing to fetch)
  std::string summary;
};

const std::vector<ZooEntry>& model_zoo();
const ZooEntry* find_zoo_entry(const std::string& name);

// Cache root: $OVSEG_CACHE_DIR, else $XDG_CACHE_HOME/ovseg, else ~/.cache/ovseg.
std::string cache_root();
// Model files: $OVSEG_MODEL_DIR, else <cache_root>/models.
std::string model_dir();

// A model argument as users write it: an existing file path, or a zoo name
// whose file is in model_dir(). Throws a clear error otherwise (unknown
// name with suggestions, or "not downloaded" with the fetch command).
std::string resolve_model_file(const std::string& name_or_path);
// The same, but a relative path is first looked for under `base_dir` (a
// pipeline file's folder) when such a file exists there.
std::string resolve_model_file(const std::string& name_or_path, const std::string& base_dir);

// A file shipped in host/models/embedded/ (the embedded default models).
// Throws naming the folder when it is not there.
std::string embedded_model_file(const std::string& file);

// CLIP's BPE vocabulary: `explicit_path` if given, else $OVSEG_CLIP_BPE, else
// the zoo's bpe_simple_vocab_16e6.txt.gz in model_dir(), else the copy
// shipped in host/models/embedded/. Throws naming every place it looked.
std::string resolve_bpe_vocab(const std::string& explicit_path = "");

// Downloads an entry with curl into model_dir() (to a temporary name, checks
// sha256, then renames). Returns the final path. Throws with curl's message
// when offline, or on a checksum mismatch (the partial file is removed).
std::string fetch_model(const ZooEntry& entry);

// sha256 of a file, remembered in <cache_root>/hashes keyed by path, size and
// modification time so a 350 MB checkpoint is hashed once, not every run.
std::string cached_file_sha256(const std::string& path);

// The caches only save time: runs `write` (which fills a file under
// cache_root()) and returns true, or, when it throws (an unwritable
// OVSEG_CACHE_DIR or HOME), warns once per process on stderr and returns
// false so the caller goes on uncached.
bool try_cache_write(const std::function<void()>& write);

}  // namespace ovseg::models
