// clip_text: class embeddings from CLIP's text tower. Each class may list
// synonyms ("person, man, woman"); every synonym is written into every
// template and the normalised embeddings are averaged over templates. Then
// either (synonyms = "mean") averaged over synonyms and normalised again
// (OpenAI's zero-shot recipe), or (synonyms = "separate") kept as one query
// each, named after the class: repeated names in the output mark synonym
// queries, whose probabilities argmax and the harness merge by max, as
// SCLIP, ClearCLIP and NACLIP do with their query_idx (ovseg/sdk/synonyms.hpp).
// Results are cached on disk keyed by the checkpoint's sha256, the
// templates, the names, the mode and the autocast precision (`--precision`).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <ovseg/sdk.hpp>

#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer brings it in LibTorch 2.x

#include "clip_templates.hpp"
#include "ovseg/models/clip_tokenizer.hpp"
#include "ovseg/sdk/autocast.hpp"
#include "ovseg/models/model_zoo.hpp"
#include "ovseg/models/sha256.hpp"
#include "shared_models.hpp"

namespace {

using namespace ovseg;
namespace fs = std::filesystem;

// Seed 003's prompt engineering: e.g. "person=person, man, woman, child,
// pedestrian" swaps one class's prompts without touching the class list (the
// class keeps its name and index, so metrics stay comparable).
void apply_overrides(const std::vector<std::string>& overrides, const std::vector<std::string>& names,
                     std::vector<std::vector<std::string>>& synonyms) {
  for (const auto& entry : overrides) {
    const auto eq = entry.find('=');
    const std::vector<std::string> target = split_synonyms(entry.substr(0, eq == std::string::npos ? 0 : eq));
    const std::vector<std::string> replacement = eq == std::string::npos ? std::vector<std::string>{}
                                                                         : split_synonyms(entry.substr(eq + 1));
    if (target.size() != 1 || replacement.empty())
      throw std::invalid_argument("synonym override '" + entry + "' is not of the form class=syn1, syn2");
    auto it = std::find(names.begin(), names.end(), target[0]);
    if (it == names.end())
      throw std::invalid_argument("synonym override names class '" + target[0] + "', which is not in the class list" +
                                  did_you_mean(target[0], names));
    synonyms[static_cast<size_t>(it - names.begin())] = replacement;  // exactly these prompts
  }
}

std::vector<std::string> read_override_lines(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error({path, 0, 0}, "", "cannot open overrides file", "check overrides_file");
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t") == line.find('#') || split_synonyms(line).empty()) continue;  // blank or comment
    lines.push_back(line);
  }
  return lines;
}

const models::ClipTokenizer& shared_tokenizer(const std::string& path) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<models::ClipTokenizer>> tokenizers;
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = tokenizers[path];
  if (!slot) slot = std::make_unique<models::ClipTokenizer>(path);
  return *slot;
}

class ClipText : public Stage {
 public:
  static PluginDescriptor describe() {
    return PluginDescriptor("clip_text", StageKind::Encoder, "CLIP text tower: class embeddings from names x templates")
        .output("embeddings", PortType::TextEmbeddings, "(K,embed) L2-normalised class embeddings")
        .param("model", "openai:ViT-B/16", "checkpoint: a zoo name (see `ovseg models`) or a file path")
        .param("class_names", std::vector<std::string>{}, "classes; synonyms comma-separated in one entry")
        .param("names_file", "",
               "class-name file: one class per line, synonyms comma-separated (neither this nor class_names: "
               "the evaluated data set's classes)")
        .param("templates", "imagenet80", "imagenet80, best7, single, or a file with one {} template per line")
        .param("synonym_overrides", std::vector<std::string>{},
               "per-class prompt table: \"class=syn1, syn2\" replaces that class's synonyms")
        .param("overrides_file", "", "file of class=syn1, syn2 lines (same meaning; # comments)")
        .param("bpe_vocab", "", "CLIP BPE vocabulary file (default: $OVSEG_CLIP_BPE, then the model cache)")
        .param("synonyms", "mean",
               "'mean': one embedding per class, the mean over its synonyms; 'separate': one per synonym "
               "(repeated class names), merged after the softmax by max as SCLIP/ClearCLIP/NACLIP do")
        .choices({"mean", "separate"})
        .param("truncate", false,
               "a prompt over the context length (77 tokens): false = error naming the prompt, as "
               "clip.tokenize(); true = keep its first 76 tokens and end with EOT, as clip.tokenize(truncate=True)")
        .param("cache", true, "reuse embeddings cached on disk for this checkpoint, templates and names");
  }

  explicit ClipText(const StageInit& init) {
    const Params& p = init.params;
    std::vector<std::vector<std::string>> synonyms;
    for (const auto& entry : p.get<std::vector<std::string>>("class_names")) {
      synonyms.push_back(split_synonyms(entry));
      if (synonyms.back().empty()) throw std::invalid_argument("empty class name in class_names");
    }
    std::string class_source = "class_names";  // where the names came from, for error messages
    if (!p.get_string("names_file").empty()) {
      if (!synonyms.empty()) throw std::invalid_argument("give class_names or names_file, not both");
      class_source = "names_file '" + init.resolve_path(p.get_string("names_file")) + "'";
      synonyms = read_class_name_file(init.resolve_path(p.get_string("names_file")));
    }
    // Neither given: the classes of the data set being evaluated or trained on.
    if (synonyms.empty()) {
      synonyms = init.vocabulary;
      class_source = "the data set's class list";
    }
    if (synonyms.empty()) return;  // no classes yet: run() says so (`ovseg check` / `params` need none)
    std::vector<std::string> overrides = p.get<std::vector<std::string>>("synonym_overrides");
    if (!p.get_string("overrides_file").empty()) {
      auto from_file = read_override_lines(init.resolve_path(p.get_string("overrides_file")));
      overrides.insert(overrides.begin(), from_file.begin(), from_file.end());  // inline entries win
    }
    std::vector<std::string> class_names;
    for (const auto& syns : synonyms) class_names.push_back(syns.front());
    apply_overrides(overrides, class_names, synonyms);
    const bool separate = p.get_string("synonyms") == "separate";
    for (size_t c = 0; c < synonyms.size(); ++c)
      names_.insert(names_.end(), separate ? synonyms[c].size() : 1, class_names[c]);
    std::string tmpl_arg = p.get_string("templates");
    if (tmpl_arg != "imagenet80" && tmpl_arg != "best7" && tmpl_arg != "single") tmpl_arg = init.resolve_path(tmpl_arg);
    const std::vector<std::string> templates = clip_plugins::template_set(tmpl_arg);

    const std::string model_file = models::resolve_model_file(clip_plugins::model_argument(init));
    const std::string vocab = models::resolve_bpe_vocab(
        p.get_string("bpe_vocab").empty() ? "" : init.resolve_path(p.get_string("bpe_vocab")));
    std::string key_text = "clip_text v1\n" + models::cached_file_sha256(model_file) + "\n";
    for (const auto& t : templates) key_text += t + "\n";
    for (const auto& syns : synonyms) {
      key_text += "class:";
      for (const auto& s : syns) key_text += s + ",";
      key_text += "\n";
    }
    if (separate) key_text += "synonyms: separate\n";  // "mean" keeps the v1 keys of earlier caches
    const bool truncate = p.get_bool("truncate");
    if (truncate) key_text += "truncate: true\n";  // the default keeps earlier keys: short prompts are unchanged
    // Built under the host's bf16 / fp16 autocast (`--precision`), the
    // embeddings differ: another file, float32 ones keep their keys.
    const std::string precision = autocast_precision(at::Device(init.device));
    if (!precision.empty()) key_text += "precision: " + precision + "\n";
    const fs::path cache_file = fs::path(models::cache_root()) / "text-embeddings" /
                                (models::sha256_hex(key_text) + ".npy");

    at::Tensor e;
    if (p.get_bool("cache") && fs::is_regular_file(cache_file)) {
      e = read_npy(cache_file.string());
    } else {
      auto model = clip_plugins::shared_clip_model(model_file, at::Device(init.device));
      const Prompts prompts = build_prompts(synonyms, class_names, templates, class_source, !overrides.empty());
      e = embed(*model, tokenize_prompts(shared_tokenizer(vocab), prompts, model->geometry().context_length, truncate),
                synonyms, templates, separate)
              .to(at::kFloat)  // the cache file and the port are float32 whatever the autocast computed in
              .cpu();
      if (p.get_bool("cache"))
        models::try_cache_write([&] {
          fs::create_directories(cache_file.parent_path());
          write_npy(cache_file.string(), e);
        });
    }
    embeddings_ = e.to(at::Device(init.device));
  }

  void run(StageContext& ctx) override {
    if (!embeddings_.defined())
      throw std::invalid_argument(
          "no classes: set class_names or names_file (under `ovseg eval` and `ovseg train` the data set's "
          "classes are used when neither is set)");
    ctx.set_output("embeddings", TextEmbeddings{embeddings_, names_});
  }

 private:
  // Every synonym in every template, classes outer, with where each came
  // from so that a prompt the tokenizer refuses can be traced to its class.
  struct Prompts {
    std::vector<std::string> texts;
    std::vector<std::string> origin;  // per text: class, synonym, template, source
  };

  static Prompts build_prompts(const std::vector<std::vector<std::string>>& synonyms,
                               const std::vector<std::string>& class_names, const std::vector<std::string>& templates,
                               const std::string& class_source, bool overridden) {
    Prompts out;
    for (size_t c = 0; c < synonyms.size(); ++c)
      for (const auto& s : synonyms[c])
        for (const auto& t : templates) {
          out.texts.push_back(clip_plugins::apply_template(t, s));
          out.origin.push_back("class " + std::to_string(c) + " '" + class_names[c] + "' (from " + class_source +
                               (overridden ? ", after synonym overrides" : "") + "), synonym '" + s + "', template '" +
                               t + "'");
        }
    return out;
  }

  // clip.tokenize over all prompts: a prompt over the context length is an
  // error naming it and its class unless truncate (the node parameter).
  static at::Tensor tokenize_prompts(const models::ClipTokenizer& tok, const Prompts& prompts, int64_t context_length,
                                     bool truncate) {
    try {
      return tok.tokenize(prompts.texts, context_length, truncate);
    } catch (const std::length_error&) {
      for (size_t i = 0; i < prompts.texts.size(); ++i) {
        try {
          tok.tokenize_ids({prompts.texts[i]}, context_length, false);
        } catch (const std::length_error& e) {
          throw std::invalid_argument(std::string("prompt ") + e.what() + ", from " + prompts.origin[i] +
                                      "; shorten it, or set truncate = true on this node to keep its first " +
                                      std::to_string(context_length - 1) +
                                      " tokens and end with EOT, as clip.tokenize(truncate=True)");
        }
      }
      throw;
    }
  }

  static at::Tensor embed(const models::ClipModel& model, const at::Tensor& token_ids,
                          const std::vector<std::vector<std::string>>& synonyms,
                          const std::vector<std::string>& templates, bool separate) {
    at::Tensor ids = token_ids.to(model.device());
    std::vector<at::Tensor> chunks;
    at::NoGradGuard no_grad;
    constexpr int64_t kChunk = 256;  // bounds memory for 150 classes x 80 templates
    for (int64_t i = 0; i < ids.size(0); i += kChunk)
      chunks.push_back(l2_normalize(model.encode_text(ids.narrow(0, i, std::min(kChunk, ids.size(0) - i)))));
    at::Tensor all = at::cat(chunks, 0);
    std::vector<at::Tensor> classes;
    int64_t row = 0;
    const int64_t nt = static_cast<int64_t>(templates.size());
    for (const auto& syns : synonyms) {
      std::vector<at::Tensor> per_synonym;
      for (size_t s = 0; s < syns.size(); ++s, row += nt)
        per_synonym.push_back(l2_normalize(all.narrow(0, row, nt).mean(0), 0));
      if (separate)
        classes.insert(classes.end(), per_synonym.begin(), per_synonym.end());
      else
        classes.push_back(l2_normalize(at::stack(per_synonym).mean(0), 0));
    }
    return at::stack(classes);
  }

  std::vector<std::string> names_;
  at::Tensor embeddings_;  // computed once: the text side does not depend on the image
};

}  // namespace

OVSEG_REGISTER_PLUGIN(ClipText);
