// The binary finds its data (embedded models, pipelines, the demo's spec,
// published results) relative to itself, or through OVSEG_DATA_DIR; no
// source path is baked in. A copy of the build's bin/, lib/ and share/ in a
// temporary folder must read its own share/ovseg, and fail naming that copy
// (never falling back to the source tree) once its data folder is moved away.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace {

struct Copy {
  fs::path root = fs::temp_directory_path() / ("ovseg_data_dir_test_" + std::to_string(::getpid()));
  Copy() {
    fs::remove_all(root);
    const fs::path build = fs::path(OVSEG_CLI).parent_path().parent_path();
    fs::create_directories(root / "bin");
    fs::copy_file(OVSEG_CLI, root / "bin" / "ovseg");
    const auto opts = fs::copy_options::recursive | fs::copy_options::copy_symlinks;
    fs::copy(build / "lib", root / "lib", opts);
    fs::copy(build / "share", root / "share", opts);
  }
  ~Copy() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
};

// Runs the copied `ovseg ARGS` with `env` prepended (e.g. "OVSEG_DATA_DIR=x");
// OVSEG_DATA_DIR is unset unless `env` sets it.
int ovseg(const Copy& c, const std::string& args, std::string* output, const std::string& env = "") {
  const std::string cmd = "env -u OVSEG_DATA_DIR -u OVSEG_CLIP_BPE " + env + " " + (c.root / "bin" / "ovseg").string() +
                          " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = pclose(p);
  *output = out;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("a copied build reads its own data folder, and says so when it is gone") {
  Copy c;
  const std::string data = (c.root / "share" / "ovseg").string();
  std::string out;
  // The shipped SAM resolves inside the copy, not the source tree.
  REQUIRE(ovseg(c, "fetch-model ovseg:world-sam", &out) == 0);
  INFO(out);
  CHECK(contains(out, data + "/host/models/embedded/world-sam.safetensors"));
  CHECK_FALSE(contains(out, OVSEG_SOURCE_DIR));
  REQUIRE(ovseg(c, "models", &out) == 0);
  CHECK(contains(out, "data folder:  " + data));

  // A small eval with the copy's pipeline, world CLIP and BPE vocabulary
  // (OVSEG_CLIP_BPE unset: the tokenizer falls back to the data folder's).
  const fs::path world = c.root / "world";
  REQUIRE(ovseg(c, "world --out " + world.string() + " --train 0 --val 2 --val-size 64", &out) == 0);
  const std::string eval = "eval " + data + "/pipelines/naclip.toml --dataset folder --data-root " + world.string() +
                           " --results " + (c.root / "results").string();
  const int rc = ovseg(c, eval, &out, "OVSEG_CACHE_DIR=" + (c.root / "cache").string());
  INFO(out);
  CHECK(rc == 0);
  CHECK(contains(out, "mIoU"));

  // The data folder moved away: a one-line error naming where it looked
  // (the copy's share/ovseg), never the source tree's files.
  fs::rename(data, data + ".moved");
  CHECK(ovseg(c, "fetch-model ovseg:world-sam", &out) != 0);
  CHECK(contains(out, "ovseg's data folder was not found (looked in: " + data));
  CHECK(contains(out, "OVSEG_DATA_DIR"));
  CHECK_FALSE(contains(out, OVSEG_SOURCE_DIR));
  CHECK(ovseg(c, "demo --out " + (c.root / "demo").string(), &out) != 0);
  CHECK(contains(out, "data folder was not found"));

  // OVSEG_DATA_DIR points it anywhere: at the moved copy, or at a folder
  // that does not exist (an error, not a silent fallback).
  REQUIRE(ovseg(c, "fetch-model ovseg:world-sam", &out, "OVSEG_DATA_DIR=" + data + ".moved") == 0);
  CHECK(contains(out, data + ".moved/host/models/embedded/world-sam.safetensors"));
  CHECK(ovseg(c, "fetch-model ovseg:world-sam", &out, "OVSEG_DATA_DIR=" + data + ".nowhere") != 0);
  CHECK(contains(out, "OVSEG_DATA_DIR names " + data + ".nowhere, which is not a folder"));
}
