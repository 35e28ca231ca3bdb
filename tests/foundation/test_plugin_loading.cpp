// Plugin discovery and loading: the real plugin folder, and every way a
// library can be refused (ABI mismatch, not a plugin, garbage, missing,
// duplicate names) without a crash and without hiding the other plugins.
#include <cstdlib>
#include <iostream>
#include <optional>
#include <sstream>

#include <torch/version.h>

#include "foundation_util.hpp"
#include "ovseg/host/map_stage_context.hpp"

using namespace ovseg;
using namespace ovseg_test;

namespace {

// Sets an environment variable for one scope, restoring it afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = std::string(old);
    if (value)
      ::setenv(name, value, 1);
    else
      ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_)
      ::setenv(name_.c_str(), old_->c_str(), 1);
    else
      ::unsetenv(name_.c_str());
  }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

std::string canonical(const std::string& p) { return fs::weakly_canonical(p).string(); }

}  // namespace

namespace {
const std::vector<std::string> kBundled = {"argmax",         "class_embeddings", "cosine_logits",
                                           "pixel_features", "resize_logits",    "similarity_smoothing"};

// Plugins the real folder holds (the six bundled ones and any added later).
size_t real_plugin_count() {
  PluginCatalog cat;
  cat.load_directory(kPluginDir);
  return cat.plugins().size();
}
}  // namespace

TEST_CASE("the real plugin folder holds the six bundled plugins") {
  PluginCatalog cat;
  cat.load_directory(kPluginDir);
  CHECK(cat.problems().empty());
  for (const auto& p : cat.problems()) MESSAGE(p.message);
  for (const auto& name : kBundled) CHECK_MESSAGE(cat.find(name) != nullptr, name);
  CHECK(cat.names().size() >= kBundled.size());
  // None of the suite's test plugins leaked into the real folder.
  CHECK(cat.find("record_order") == nullptr);
  CHECK(cat.find("misbehave") == nullptr);
  CHECK(cat.searched_dirs() == std::vector<std::string>{kPluginDir});
  CHECK(cat.find("nope") == nullptr);

  const LoadedPlugin* pf = cat.find("pixel_features");
  REQUIRE(pf != nullptr);
  CHECK(pf->descriptor.kind == StageKind::Encoder);
  CHECK(pf->library_path == kPluginDir + "/libovseg_plugin_pixel_features.so");
  CHECK(pf->library != nullptr);
  CHECK(static_cast<bool>(pf->descriptor.create));
  REQUIRE(pf->descriptor.find_input("image") != nullptr);
  CHECK(pf->descriptor.find_input("image")->type == PortType::Image);
  CHECK(pf->descriptor.find_output("tokens")->type == PortType::Tokens);
  const ParamSpec* ps = pf->descriptor.find_param("patch_size");
  REQUIRE(ps != nullptr);
  CHECK(ps->type == ParamType::Int);
  CHECK(std::get<int64_t>(ps->default_value) == 8);
  CHECK(ps->min == 1.0);
  CHECK(ps->max == 512.0);
  CHECK_FALSE(ps->doc.empty());

  // Every stage kind is exercised by the bundled plugins.
  CHECK(cat.find("similarity_smoothing")->descriptor.kind == StageKind::Refinement);
  CHECK(cat.find("cosine_logits")->descriptor.kind == StageKind::Fusion);
  CHECK(cat.find("argmax")->descriptor.kind == StageKind::Postprocess);
  CHECK(cat.find("resize_logits")->descriptor.find_param("mode")->choices ==
        std::vector<std::string>{"bilinear", "bicubic", "nearest"});
  // Every parameter carries a doc line.
  for (const auto& [name, p] : cat.plugins()) {
    CHECK_FALSE(p.descriptor.summary.empty());
    for (const auto& prm : p.descriptor.params) CHECK_MESSAGE(!prm.doc.empty(), name << "." << prm.name);
  }
}

TEST_CASE("an ABI-mismatch plugin is refused with both versions and the file") {
  const std::string path = test_plugin("abi_mismatch");
  REQUIRE(fs::exists(path));
  PluginCatalog cat;
  const Error e = catch_error([&] { cat.load_library(path); });
  const std::string message = e.what();
  INFO(message);
  CHECK(e.where().file == path);
  CHECK(contains(e.what(), path + ": error: "));
  CHECK(contains(e.what(), "SDK ABI version 999"));
  CHECK(contains(e.what(), "this host speaks version " + std::to_string(kSdkAbiVersion)));
  CHECK(contains(e.fix(), "rebuild the plugin"));
  CHECK(cat.plugins().empty());
}

TEST_CASE("a shared library without entry points is not a plugin") {
  const std::string path = test_plugin("not_a_plugin");
  REQUIRE(fs::exists(path));
  PluginCatalog cat;
  const Error e = catch_error([&] { cat.load_library(path); });
  CHECK(e.where().file == path);
  CHECK(contains(e.what(), "not an ovseg plugin (no ovseg_sdk_abi_version entry point)"));
  CHECK(contains(e.fix(), "ovseg_add_plugin()"));
}

TEST_CASE("a missing library file") {
  PluginCatalog cat;
  const Error e = catch_error([&] { cat.load_library("/nonexistent/libovseg_plugin_x.so"); });
  CHECK(e.where().file == "/nonexistent/libovseg_plugin_x.so");
  CHECK(contains(e.what(), "plugin library not found"));
}

TEST_CASE("a garbage .so is recorded as a problem; the other plugins still load") {
  TempDir dir;
  write_file(dir.file("libovseg_plugin_garbage.so"), "this is not an ELF file\n");
  fs::copy_file(kPluginDir + "/libovseg_plugin_argmax.so", dir.file("libovseg_plugin_argmax.so"));
  write_file(dir.file("README.txt"), "ignored: not a plugin name\n");
  write_file(dir.file("libother.so"), "ignored: no plugin prefix\n");

  // load_library on the garbage file throws a clear error.
  {
    PluginCatalog cat;
    const Error e = catch_error([&] { cat.load_library(dir.file("libovseg_plugin_garbage.so")); });
    CHECK(e.where().file == dir.file("libovseg_plugin_garbage.so"));
    CHECK(contains(e.what(), "cannot load plugin library"));
  }

  PluginCatalog cat;
  cat.load_directory(dir.path().string());
  REQUIRE(cat.problems().size() == 1);
  CHECK(cat.problems()[0].library_path == dir.file("libovseg_plugin_garbage.so"));
  CHECK(contains(cat.problems()[0].message, "cannot load plugin library"));
  CHECK(cat.names() == std::vector<std::string>{"argmax"});

  // A graph naming the broken plugin says why it is missing.
  const std::string text = "[nodes.g]\nplugin = \"garbage\"\n";
  const Error e = catch_error([&] { build_graph(parse_pipeline_spec(text, "g.toml"), cat); });
  CHECK(e.node() == "g");
  CHECK(e.where().line == 2);
  CHECK(contains(e.fix(), "its library failed to load"));
}

TEST_CASE("the suite's test plugin folder: broken libraries do not hide good ones") {
  PluginCatalog cat;
  cat.load_directory(kTestPluginDir);
  std::vector<std::string> problem_files;
  for (const auto& p : cat.problems()) problem_files.push_back(fs::path(p.library_path).filename().string());
  // Sorted load order: abi_mismatch, fingerprint_mismatch, not_a_plugin,
  // test_stages, test_stages_dup.
  CHECK(problem_files ==
        std::vector<std::string>{"libovseg_plugin_abi_mismatch.so", "libovseg_plugin_fingerprint_mismatch.so",
                                 "libovseg_plugin_not_a_plugin.so", "libovseg_plugin_test_stages_dup.so"});
  CHECK(cat.names() == std::vector<std::string>{"misbehave", "record_order"});
  CHECK(cat.find("record_order")->library_path == test_plugin("test_stages"));
}

TEST_CASE("a plugin of this ABI version built with another LibTorch or compiler is refused by its fingerprint") {
  const std::string path = test_plugin("fingerprint_mismatch");
  REQUIRE(fs::exists(path));
  PluginCatalog cat;
  const Error e = catch_error([&] { cat.load_library(path); });
  INFO(e.what());
  CHECK(e.where().file == path);
  CHECK(contains(e.what(), "plugin built with libtorch 0.4.0; gcc 4.8"));
  CHECK(contains(e.what(), std::string("this host with libtorch ") + TORCH_VERSION));
  CHECK(contains(e.fix(), "same LibTorch and compiler"));
  CHECK(cat.plugins().empty());
  // Every real plugin carries this host's fingerprint.
  PluginCatalog real;
  real.load_directory(kPluginDir);
  CHECK(real.problems().empty());
  CHECK(real.plugins().size() > 10);
}

TEST_CASE("two libraries registering the same plugin name") {
  PluginCatalog cat;
  cat.load_library(test_plugin("test_stages"));
  const Error e = catch_error([&] { cat.load_library(test_plugin("test_stages_dup")); });
  const std::string message = e.what();
  INFO(message);
  CHECK(e.where().file == test_plugin("test_stages_dup"));
  CHECK(contains(e.what(), "is already provided by " + test_plugin("test_stages")));
  // The first library's plugins are untouched.
  CHECK(cat.find("record_order")->library_path == test_plugin("test_stages"));
  CHECK(cat.names().size() == 2);
}

TEST_CASE("plugin_search_path: --plugin-dir first, then OVSEG_PLUGIN_PATH, then next to the binary") {
  // The test binary lives in build/bin, so "next to the binary" is the real plugin folder.
  const std::string beside_binary = canonical(kPluginDir);
  {
    ScopedEnv env("OVSEG_PLUGIN_PATH", "/env/one::/env/two:/cli/a:");
    auto dirs = plugin_search_path({"/cli/a", "/cli/b"});
    REQUIRE(dirs.size() == 5);
    CHECK(canonical(dirs.back()) == beside_binary);
    dirs.pop_back();
    CHECK(dirs == std::vector<std::string>{"/cli/a", "/cli/b", "/env/one", "/env/two"});
  }
  {
    ScopedEnv env("OVSEG_PLUGIN_PATH", nullptr);
    const auto dirs = plugin_search_path({});
    REQUIRE(dirs.size() == 1);
    CHECK(canonical(dirs[0]) == beside_binary);
  }
}

TEST_CASE("OVSEG_PLUGIN_PATH entries that are not folders are warned about once") {
  TempDir dir;
  const std::string missing = dir.file("no_such_folder");
  ScopedEnv env("OVSEG_PLUGIN_PATH", (missing + ":" + dir.path().string()).c_str());
  std::ostringstream err;
  std::streambuf* old = std::cerr.rdbuf(err.rdbuf());
  const auto dirs = plugin_search_path({});
  plugin_search_path({});  // asked again: no second warning
  std::cerr.rdbuf(old);
  CHECK(dirs.size() == 3);  // still searched in order; the warning is the change
  CHECK(err.str() == "warning: OVSEG_PLUGIN_PATH entry '" + missing + "' is not a folder; ignored\n");
}

TEST_CASE("discover_plugins loads the search path and rejects a missing --plugin-dir") {
  ScopedEnv env("OVSEG_PLUGIN_PATH", nullptr);
  const PluginCatalog cat = discover_plugins({});
  CHECK(cat.names().size() == real_plugin_count());
  CHECK(cat.find("pixel_features") != nullptr);
  CHECK(cat.problems().empty());

  const Error e = catch_error([] { discover_plugins({"/nonexistent/plugins"}); });
  CHECK(e.where().file == "/nonexistent/plugins");
  CHECK(contains(e.what(), "plugin directory does not exist"));
}

TEST_CASE("OVSEG_PLUGIN_PATH adds a folder; the first folder on the path wins") {
  TempDir dir;
  fs::copy_file(test_plugin("test_stages"), dir.file("libovseg_plugin_test_stages.so"));
  ScopedEnv env("OVSEG_PLUGIN_PATH", dir.path().c_str());
  const PluginCatalog cat = discover_plugins({});
  CHECK(cat.find("record_order") != nullptr);
  CHECK(cat.find("argmax") != nullptr);
  CHECK(cat.names().size() == real_plugin_count() + 2);
  CHECK(cat.searched_dirs().front() == dir.path().string());
}

TEST_CASE("edit distance and near names") {
  CHECK(edit_distance("kitten", "sitting") == 3);
  CHECK(edit_distance("", "abc") == 3);
  // Nearest first; "resize_logits" is 4 edits away, within a third of 13.
  CHECK(nearest_names("cosine_logit", {"argmax", "resize_logits", "cosine_logits"}) ==
        std::vector<std::string>{"cosine_logits", "resize_logits"});
  CHECK(nearest_names("cosine_logit", {"a", "b", "cosine_logits"}, 1) == std::vector<std::string>{"cosine_logits"});
  CHECK(nearest_names("pam", {"pamr", "xyz"}) == std::vector<std::string>{"pamr"});  // prefix
  CHECK(did_you_mean("zzzz", {"argmax"}).empty());
  CHECK(did_you_mean("argmx", {"argmax"}) == " (did you mean 'argmax'?)");
}

TEST_CASE("Error composes file:line:column, node, problem and fix") {
  const Error e({"p.toml", 3, 7}, "enc", "bad thing", "do this");
  CHECK(std::string(e.what()) == "p.toml:3:7: error: node 'enc': bad thing -- fix: do this");
  CHECK(std::string(Error("plain").what()) == "error: plain");
  CHECK(SourceLocation{"f", 2, 0}.str() == "f:2");
  CHECK(SourceLocation{"f", 0, 0}.str() == "f");
}

TEST_CASE("create_stage builds one plugin's stage outside a graph, defaults filled, mistakes named") {
  // argmax: the best class (its deprecated threshold alias is accepted and
  // validated; the protocol applies thresholds, not the stage).
  auto stage = create_stage(catalog(), "argmax", {{"probability_threshold", 0.6}});
  MapStageContext ctx;
  ctx.inputs["logits"] = Logits{at::tensor({0.0f, 0.2f}).view({1, 2, 1, 1}), {"a", "b"}};
  stage->run(ctx);
  CHECK(std::get<LabelMap>(ctx.outputs.at("labels")).labels.item<int64_t>() == 1);

  // Ints are promoted for float parameters, as in TOML.
  CHECK_NOTHROW(create_stage(catalog(), "cosine_logits", {{"logit_scale", int64_t{50}}}));
  auto error_of = [](const std::string& plugin, const std::map<std::string, ParamValue>& params) {
    try {
      create_stage(catalog(), plugin, params, "n1");
    } catch (const Error& e) {
      CHECK(e.node() == "n1");
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(error_of("argmx", {}).find("did you mean 'argmax'") != std::string::npos);
  CHECK(error_of("argmax", {{"probability_treshold", 0.5}}).find("did you mean 'probability_threshold'") !=
        std::string::npos);
  CHECK(error_of("argmax", {{"probability_threshold", std::string("high")}}).find("expects float, got string") !=
        std::string::npos);
  CHECK(error_of("argmax", {{"background_index", int64_t{1}}}).find("unknown") != std::string::npos);  // removed
}
