// class_embeddings: text-side embeddings given directly instead of computed
// by a text encoder: from a .npy file (K,C) or inline in the TOML. Class
// names come inline or from a class-name file in SCLIP's format (one class
// per line, synonyms comma-separated; the first synonym names the class).
#include <ovseg/sdk.hpp>

namespace {

using namespace ovseg;

class ClassEmbeddings : public Stage {
 public:
  static PluginDescriptor describe() {
    return PluginDescriptor("class_embeddings", StageKind::Encoder,
                            "class embeddings from a .npy file or inline values")
        .output("embeddings", PortType::TextEmbeddings, "(K,C) class embeddings with class names")
        .param("class_names", std::vector<std::string>{}, "class names, in row order")
        .param("names_file", "", "class-name file (one class per line, synonyms after commas)")
        .param("file", "", ".npy file holding a (K,C) float array")
        .param("embeddings", std::vector<double>{}, "inline embeddings, K*C values row by row")
        .param("normalize", true, "L2-normalise each row");
  }

  explicit ClassEmbeddings(const StageInit& init) {
    const Params& p = init.params;
    std::vector<std::string> names = p.get<std::vector<std::string>>("class_names");
    if (!p.get_string("names_file").empty()) {
      if (!names.empty()) throw std::invalid_argument("give class_names or names_file, not both");
      for (const auto& synonyms : read_class_name_file(init.resolve_path(p.get_string("names_file"))))
        names.push_back(synonyms.front());
    }
    if (names.empty()) throw std::invalid_argument("no classes: set class_names or names_file");
    const auto& inline_values = p.get<std::vector<double>>("embeddings");
    const std::string file = p.get_string("file");
    const int64_t k = static_cast<int64_t>(names.size());
    at::Tensor e;
    if (!file.empty()) {
      if (!inline_values.empty()) throw std::invalid_argument("give file or embeddings, not both");
      e = read_npy(init.resolve_path(file)).to(at::kFloat);
      expect_shape(e, {k, -1}, "embeddings file '" + file + "' (one row per class)");
    } else {
      if (inline_values.empty() || inline_values.size() % names.size() != 0)
        throw std::invalid_argument("embeddings has " + std::to_string(inline_values.size()) +
                                    " values, not a multiple of the " + std::to_string(k) + " classes");
      e = at::tensor(inline_values, at::kDouble).to(at::kFloat).view({k, -1});
    }
    if (p.get_bool("normalize")) e = l2_normalize(e);
    embeddings_ = TextEmbeddings{e.to(at::Device(init.device)), names};
  }

  void run(StageContext& ctx) override { ctx.set_output("embeddings", embeddings_); }

 private:
  TextEmbeddings embeddings_;  // computed once: the text side does not depend on the image
};

}  // namespace

OVSEG_REGISTER_PLUGIN(ClassEmbeddings);
