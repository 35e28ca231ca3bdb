#include "ovseg/models/model_zoo.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <stdexcept>

#include "ovseg/models/sha256.hpp"
#include "ovseg/sdk/data_dir.hpp"
#include "ovseg/sdk/diagnostics.hpp"

namespace fs = std::filesystem;

namespace ovseg::models {

namespace {

// The embedded models inside the data folder (the source tree's layout).
constexpr const char* kEmbeddedModelFolder = "host/models/embedded";

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += (c == '\'') ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

const std::vector<ZooEntry>& model_zoo() {
  // OpenAI publishes each checkpoint under its own sha256 (clip.py _MODELS).
  static const std::vector<ZooEntry> zoo = {
      {"openai:ViT-B/32", "ViT-B-32.pt",
       "https://openaipublic.azureedge.net/clip/models/"
       "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt",
       "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af", "torchscript",
       "OpenAI CLIP ViT-B/32, 224 px"},
      {"openai:ViT-B/16", "ViT-B-16.pt",
       "https://openaipublic.azureedge.net/clip/models/"
       "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f/ViT-B-16.pt",
       "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f", "torchscript",
       "OpenAI CLIP ViT-B/16, 224 px (the OVSS papers' default)"},
      {"openai:ViT-L/14", "ViT-L-14.pt",
       "https://openaipublic.azureedge.net/clip/models/"
       "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt",
       "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836", "torchscript",
       "OpenAI CLIP ViT-L/14, 224 px"},
      {"openai:ViT-L/14@336", "ViT-L-14-336px.pt",
       "https://openaipublic.azureedge.net/clip/models/"
       "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02/ViT-L-14-336px.pt",
       "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02", "torchscript",
       "OpenAI CLIP ViT-L/14, 336 px"},
      // Segment Anything (facebookresearch/segment-anything README "Model
      // Checkpoints"): torch.save'd state dicts. Meta publishes no checksums
      // (the file-name suffix is an md5 prefix); these sha256 values are the
      // ones several independent projects pin for the same URLs.
      {"sam:vit_b", "sam_vit_b_01ec64.pth", "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth",
       "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912", "state-dict-zip",
       "Segment Anything ViT-B, 1024 px (375 MB)"},
      {"sam:vit_l", "sam_vit_l_0b3195.pth", "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_l_0b3195.pth",
       "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622", "state-dict-zip",
       "Segment Anything ViT-L, 1024 px (1.2 GB)"},
      {"sam:vit_h", "sam_vit_h_4b8939.pth", "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth",
       "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e", "state-dict-zip",
       "Segment Anything ViT-H, 1024 px (2.4 GB)"},
      // MobileSAM (ChaoningZhang/MobileSAM weights/mobile_sam.pt, 40.7 MB):
      // TinyViT encoder, SAM's prompt encoder and decoder; sha256 as pinned by
      // independent projects (the authors publish none).
      {"mobilesam:vit_t", "mobile_sam.pt",
       "https://github.com/ChaoningZhang/MobileSAM/raw/master/weights/mobile_sam.pt",
       "6dbb90523a35330fedd7f1d3dfc66f995213d81b29a5ca8108dbcdd4e37d6c2f", "state-dict-zip",
       "MobileSAM (TinyViT encoder), 1024 px, CPU speed"},
      // The embedded world SAM (`ovseg train-sam`; host/models/embedded/README.md).
      {"ovseg:world-sam", "world-sam.safetensors", "",
       "87bcda28bdc07f32d2eae7e904f88897ea8eb8ebde24ff16c558a86849e6bf49", "embedded",
       "small SAM trained on the procedural world (ships with ovseg)"},
      {"openai:bpe-vocab", "bpe_simple_vocab_16e6.txt.gz",
       "https://github.com/openai/CLIP/raw/main/clip/bpe_simple_vocab_16e6.txt.gz",
       "924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a", "bpe-vocab",
       "CLIP's byte-pair-encoding vocabulary (text tokenizer)"},
  };
  return zoo;
}

const ZooEntry* find_zoo_entry(const std::string& name) {
  for (const auto& e : model_zoo())
    if (e.name == name) return &e;
  return nullptr;
}

std::string cache_root() {
  if (auto dir = env("OVSEG_CACHE_DIR"); !dir.empty()) return dir;
  if (auto xdg = env("XDG_CACHE_HOME"); !xdg.empty()) return (fs::path(xdg) / "ovseg").string();
  if (auto home = env("HOME"); !home.empty()) return (fs::path(home) / ".cache" / "ovseg").string();
  return (fs::temp_directory_path() / "ovseg-cache").string();
}

std::string model_dir() {
  if (auto dir = env("OVSEG_MODEL_DIR"); !dir.empty()) return dir;
  return (fs::path(cache_root()) / "models").string();
}

std::string resolve_model_file(const std::string& name_or_path) {
  if (fs::is_regular_file(name_or_path)) return name_or_path;
  if (const ZooEntry* e = find_zoo_entry(name_or_path)) {
    if (e->format == "embedded") return embedded_model_file(e->file);
    const fs::path p = fs::path(model_dir()) / e->file;
    if (fs::is_regular_file(p)) return p.string();
    throw std::runtime_error("model '" + e->name + "' is not downloaded (looked for " + p.string() +
                             ") -- fix: run `ovseg fetch-model " + e->name + "`, or copy " + e->file +
                             " there (OVSEG_MODEL_DIR sets the folder)");
  }
  std::vector<std::string> names;
  for (const auto& e : model_zoo()) names.push_back(e.name);
  throw std::runtime_error("model '" + name_or_path + "' is neither a file nor a zoo name" +
                           did_you_mean(name_or_path, names) +
                           " -- fix: give a checkpoint path, or a name from `ovseg models`");
}

std::string resolve_model_file(const std::string& name_or_path, const std::string& base_dir) {
  if (!base_dir.empty() && fs::path(name_or_path).is_relative()) {
    const fs::path p = fs::path(base_dir) / name_or_path;
    if (fs::is_regular_file(p)) return p.string();
  }
  return resolve_model_file(name_or_path);
}

std::string embedded_model_file(const std::string& file) {
  // In the data folder found relative to the binary (ovseg/sdk/data_dir.hpp),
  // never a source path baked in: a copied or installed build uses its own.
  const fs::path dir = data_path(kEmbeddedModelFolder);
  const fs::path p = dir / file;
  if (fs::is_regular_file(p)) return p.string();
  throw std::runtime_error("embedded model " + file + " is missing from " + dir.string() +
                           " (the data folder's copy of host/models/embedded; see host/models/embedded/README.md) "
                           "-- fix: rebuild (the build copies it), or set OVSEG_DATA_DIR");
}

std::string resolve_bpe_vocab(const std::string& explicit_path) {
  std::vector<std::string> looked;
  auto check = [&](const std::string& p) {
    looked.push_back(p);
    return !p.empty() && fs::is_regular_file(p);
  };
  if (!explicit_path.empty()) {
    if (check(explicit_path)) return explicit_path;
    throw std::runtime_error("BPE vocabulary not found: " + explicit_path);
  }
  if (auto e = env("OVSEG_CLIP_BPE"); !e.empty()) {
    // An explicit setting that is wrong is an error, not a silent fallback.
    if (check(e)) return e;
    throw std::runtime_error("OVSEG_CLIP_BPE names " + e +
                             ", which is not a file -- fix: point it at bpe_simple_vocab_16e6.txt.gz or unset it");
  }
  const std::string cached = (fs::path(model_dir()) / "bpe_simple_vocab_16e6.txt.gz").string();
  if (check(cached)) return cached;
  // The copy shipped with the embedded default model (the same file; the
  // zoo's sha256 pins it), so the demo needs no download. A missing data
  // folder only means this fallback is absent.
  try {
    if (check((fs::path(data_path(kEmbeddedModelFolder)) / "bpe_simple_vocab_16e6.txt.gz").string()))
      return looked.back();
  } catch (const std::runtime_error&) {
  }
  std::string where;
  for (const auto& l : looked) where += (where.empty() ? "" : ", ") + l;
  throw std::runtime_error("CLIP's BPE vocabulary was not found (looked in: " + where +
                           ") -- fix: run `ovseg fetch-model openai:bpe-vocab` or set OVSEG_CLIP_BPE");
}

std::string fetch_model(const ZooEntry& entry) {
  if (entry.format == "embedded") return embedded_model_file(entry.file);  // shipped, nothing to download
  fs::create_directories(model_dir());
  const fs::path final_path = fs::path(model_dir()) / entry.file;
  const fs::path tmp = final_path.string() + ".download";
  const std::string cmd = "curl -fL --retry 2 --connect-timeout 20 -o " + shell_quote(tmp.string()) + " " +
                          shell_quote(entry.url);
  if (std::system(cmd.c_str()) != 0) {
    fs::remove(tmp);
    throw std::runtime_error("download of " + entry.name + " from " + entry.url +
                             " failed (offline or blocked?) -- fix: fetch the file elsewhere and copy it to " +
                             final_path.string());
  }
  const std::string got = sha256_file(tmp.string());
  if (got != entry.sha256) {
    fs::remove(tmp);
    throw std::runtime_error("checksum mismatch for " + entry.name + ": expected sha256 " + entry.sha256 + ", got " +
                             got + " -- the download was removed; retry");
  }
  fs::rename(tmp, final_path);
  return final_path.string();
}

bool try_cache_write(const std::function<void()>& write) {
  try {
    write();
    return true;
  } catch (const std::exception& e) {
    static std::once_flag warned;
    const auto* fs_error = dynamic_cast<const fs::filesystem_error*>(&e);
    std::string why = fs_error ? fs_error->code().message() + " (" + fs_error->path1().string() + ")" : e.what();
    why = why.substr(0, why.find('\n'));
    std::call_once(warned, [&] {
      std::cerr << "warning: cannot write the cache under " << cache_root() << ": " << why
                << "; running uncached (set OVSEG_CACHE_DIR to a writable folder)\n";
    });
    return false;
  }
}

std::string cached_file_sha256(const std::string& path) {
  const fs::path abs = fs::absolute(path);
  const auto size = fs::file_size(abs);
  const auto mtime = fs::last_write_time(abs).time_since_epoch().count();
  const std::string key = sha256_hex(abs.string() + "|" + std::to_string(size) + "|" + std::to_string(mtime));
  const fs::path stamp = fs::path(cache_root()) / "hashes" / (key + ".sha256");
  if (std::ifstream in(stamp); in) {
    std::string hex;
    if (in >> hex && hex.size() == 64) return hex;
  }
  const std::string hex = sha256_file(abs.string());
  std::error_code ec;
  fs::create_directories(stamp.parent_path(), ec);
  const fs::path tmp = stamp.string() + ".tmp";
  if (std::ofstream out(tmp); out) {
    out << hex << "\n";
    out.close();
    fs::rename(tmp, stamp, ec);
  }
  return hex;
}

}  // namespace ovseg::models
