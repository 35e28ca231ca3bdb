// Helpers for the harness-core tests: temp folders, the real plugins, the
// `ovseg` CLI and the COCO-Object sample.
#pragma once

#include <ATen/ATen.h>
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "ovseg/host/plugin_loader.hpp"

namespace eval_test {

namespace fs = std::filesystem;

inline const std::string kSourceDir = OVSEG_SOURCE_DIR;
inline const std::string kCli = OVSEG_CLI;
inline const std::string kCocoRoot = std::string(OVSEG_SHARED_DATA) + "/coco-object-val2017-mini";
inline const std::string kColourPipeline = kSourceDir + "/pipelines/colour_prototypes.toml";
// The shipped world CLIP, which the trained methods' CLI tests build on.
inline const std::string kEmbeddedClip = kSourceDir + "/host/models/embedded/world-clip.safetensors";

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() / ("ovseg_eval_" + std::to_string(::getpid()) + "_" +
                                         std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) +
                                         "_" + std::to_string(counter++));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_file(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

inline const ovseg::PluginCatalog& catalog() {
  static const ovseg::PluginCatalog c = ovseg::discover_plugins({OVSEG_TEST_PLUGIN_DIR});
  return c;
}

struct CliResult {
  int exit_code = -1;  // 128 + signal when killed (as the shell reports it)
  std::string output;  // stdout + stderr
};

// Runs `env ovseg args` through the shell; args are passed as written.
inline CliResult run_cli(const std::string& args, const std::string& env = "") {
  const std::string cmd = env + (env.empty() ? "" : " ") + "'" + kCli + "' " + args + " 2>&1";
  CliResult r;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

// The only *.json (not .partial.json) in `dir`, or "" when none / several.
inline std::vector<std::string> json_files(const std::string& dir) {
  std::vector<std::string> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace eval_test
