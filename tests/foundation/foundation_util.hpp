// Shared helpers for the foundation suite: temp folders, file I/O, the
// plugin catalog (real plugins + the suite's test plugins), error capture
// and running the `ovseg` CLI.
#pragma once

#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

#include "ovseg/host/graph.hpp"
#include "ovseg/host/pipeline_spec.hpp"
#include "ovseg/host/plugin_loader.hpp"
#include "ovseg/sdk/diagnostics.hpp"

namespace ovseg_test {

namespace fs = std::filesystem;

inline const std::string kPluginDir = OVSEG_TEST_PLUGIN_DIR;            // the real plugins
inline const std::string kTestPluginDir = OVSEG_TEST_EXTRA_PLUGIN_DIR;  // built by this suite
inline const std::string kSourceDir = OVSEG_SOURCE_DIR;
inline const std::string kCli = OVSEG_CLI;

inline std::string test_plugin(const std::string& name) { return kTestPluginDir + "/libovseg_plugin_" + name + ".so"; }

// A fresh folder under the system temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    const auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
    path_ = fs::temp_directory_path() / ("ovseg_foundation_" + std::to_string(::getpid()) + "_" +
                                         std::to_string(stamp) + "_" + std::to_string(counter++));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

inline void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  REQUIRE(out.good());
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// 1-based number of the first line of `text` containing `marker`.
inline int line_of(const std::string& text, const std::string& marker) {
  const auto pos = text.find(marker);
  REQUIRE_MESSAGE(pos != std::string::npos, "marker not in text: " << marker);
  int line = 1;
  for (size_t i = 0; i < pos; ++i) line += text[i] == '\n';
  return line;
}

// `text` with its only occurrence of `from` replaced by `to`.
inline std::string replace_once(std::string text, const std::string& from, const std::string& to) {
  const auto pos = text.find(from);
  REQUIRE_MESSAGE(pos != std::string::npos, "not in text: " << from);
  REQUIRE_MESSAGE(text.find(from, pos + 1) == std::string::npos, "ambiguous: " << from);
  return text.replace(pos, from.size(), to);
}

// The real plugins plus the suite's valid test plugins, loaded once and kept
// loaded for the whole run (graphs point into it).
inline const ovseg::PluginCatalog& catalog() {
  static const ovseg::PluginCatalog* cat = [] {
    auto* c = new ovseg::PluginCatalog;  // never unloaded: graphs built in tests point into it
    c->load_directory(kPluginDir);
    c->load_library(test_plugin("test_stages"));
    return c;
  }();
  return *cat;
}

// The ovseg::Error `f` throws; fails the test when it throws nothing or
// something else.
template <class F>
ovseg::Error catch_error(F&& f) {
  try {
    f();
  } catch (const ovseg::Error& e) {
    return e;
  } catch (const std::exception& e) {
    FAIL("expected ovseg::Error, got another exception: " << e.what());
  }
  FAIL("expected ovseg::Error, nothing was thrown");
  return ovseg::Error("unreachable");
}

inline ovseg::Graph build(const std::string& toml, const std::vector<ovseg::Override>& overrides = {},
                          const std::string& file = "mem.toml") {
  return ovseg::build_graph(ovseg::parse_pipeline_spec(toml, file, overrides), catalog());
}

inline ovseg::Error build_error(const std::string& toml, const std::vector<ovseg::Override>& overrides = {}) {
  return catch_error([&] { build(toml, overrides); });
}

// Checks an error's location, node and message parts in one go.
inline void check_error(const ovseg::Error& e, const std::string& file, int line, const std::string& node,
                        std::initializer_list<std::string> parts) {
  const std::string what = e.what();
  INFO("message: " << what);
  CHECK(e.where().file == file);
  CHECK(e.where().line == line);
  CHECK(e.node() == node);
  if (line > 0) CHECK(contains(what, file + ":" + std::to_string(line) + ":"));
  if (!node.empty()) CHECK(contains(what, "node '" + node + "'"));
  CHECK(contains(what, "error: "));
  CHECK(what.find('\n') == std::string::npos);  // one line
  for (const auto& p : parts) CHECK_MESSAGE(contains(what, p), "missing: " << p);
}

// A small valid pipeline used as the base for many tests: a black/white
// two-class segmentation at patch resolution.
inline const std::string kMiniPipeline = R"([pipeline]
name = "mini"
description = "two classes, patch resolution"

[nodes.encoder]
plugin = "pixel_features"
inputs = { image = "input.image" }
patch_size = 4

[nodes.classes]
plugin = "class_embeddings"
class_names = ["dark", "light"]
embeddings = [-1, -1, -1, 1, 1, 1]

[nodes.logits]
plugin = "cosine_logits"
inputs = { features = "encoder.features", text = "classes.embeddings" }
logit_scale = 10

[outputs]
logits = "logits.logits"
)";

struct CliResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs `ovseg ARGS` through the shell (args are passed verbatim, quote them
// yourself), with OVSEG_PLUGIN_PATH cleared so only the bundled plugins load.
// Each start of the CLI loads LibTorch (about a second here), so batches run
// a few at a time; their outputs are small enough to never fill a pipe.
inline std::vector<CliResult> run_cli_batch(const std::vector<std::string>& args, size_t parallel = 4) {
  std::vector<CliResult> results(args.size());
  for (size_t start = 0; start < args.size(); start += parallel) {
    const size_t end = std::min(args.size(), start + parallel);
    std::vector<FILE*> pipes;
    for (size_t i = start; i < end; ++i) {
      const std::string cmd = "env -u OVSEG_PLUGIN_PATH '" + kCli + "' " + args[i] + " 2>&1";
      pipes.push_back(::popen(cmd.c_str(), "r"));
      REQUIRE(pipes.back() != nullptr);
    }
    for (size_t i = start; i < end; ++i) {
      FILE* pipe = pipes[i - start];
      char buf[4096];
      size_t n;
      while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) results[i].output.append(buf, n);
      const int status = ::pclose(pipe);
      results[i].exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
  }
  return results;
}

inline CliResult run_cli(const std::string& args) { return run_cli_batch({args}).front(); }

inline std::string quoted(const std::string& s) { return "'" + s + "'"; }

}  // namespace ovseg_test
