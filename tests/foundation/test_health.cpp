// Code-health fixes of issue 12, each pinned: one name-list parser, one
// atomic-write helper, one parameter validation path (create_stage checks
// like a pipeline node), the recorded git commit's dirty flag.
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "foundation_util.hpp"
#include "ovseg/harness/class_names.hpp"
#include "ovseg/sdk/atomic_file.hpp"
#include "ovseg/sdk/class_names.hpp"
#include "ovseg/sdk/stage.hpp"

using namespace ovseg;
using namespace ovseg_test;

namespace {

std::string shell(const std::string& command) {
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  ::pclose(pipe);
  return out;
}

}  // namespace

TEST_CASE("one name-list parser: \"a,,b\" is an error everywhere, naming where") {
  CHECK(split_synonyms(" person, man ,woman ") == std::vector<std::string>{"person", "man", "woman"});
  CHECK(split_synonyms("  ").empty());
  CHECK_THROWS_WITH_AS(split_synonyms("a,,b"), doctest::Contains("empty name between commas in 'a,,b'"),
                       std::invalid_argument);
  CHECK_THROWS_AS(split_synonyms("a,"), std::invalid_argument);
  TempDir dir;
  write_file(dir.file("names.txt"), "sky\n\nsea, ocean\nsand,,beach\n");
  const Error e = catch_error([&] { read_class_name_file(dir.file("names.txt")); });
  CHECK(e.where().file == dir.file("names.txt"));
  CHECK(e.where().line == 4);
  // The data sets' parser agrees (it is the same function).
  CHECK_THROWS_WITH(harness::parse_class_names("sky\n\nsea, ocean\nsand,,beach\n", "f.txt"),
                    doctest::Contains("f.txt:4: empty name between commas"));
  CHECK(harness::parse_class_names("sky\nsea, ocean\n", "f.txt") ==
        read_class_name_file((write_file(dir.file("ok.txt"), "sky\nsea, ocean\n"), dir.file("ok.txt"))));
}

TEST_CASE("one atomic-write helper: complete files only, temporaries removed") {
  TempDir dir;
  const std::string path = dir.file("record.json");
  write_text_atomically(path, "old");
  CHECK(read_file(path) == "old");
  // A writer that fails half-way leaves the old file and no temporary.
  CHECK_THROWS_AS(write_atomically(path,
                                   [](const std::string& tmp) {
                                     std::ofstream(tmp) << "half";
                                     throw std::runtime_error("disk full");
                                   }),
                  std::runtime_error);
  CHECK(read_file(path) == "old");
  for (const auto& f : fs::directory_iterator(dir.path())) CHECK(f.path().filename() == "record.json");
  // Temporaries never end in the target's extension unless asked (a scan for
  // *.json must not see one), and do when a writer picks its format by it.
  std::string seen;
  write_atomically(path, [&](const std::string& tmp) { seen = tmp, std::ofstream(tmp) << "new"; }, {true, false});
  CHECK(read_file(path) == "new");
  CHECK(fs::path(seen).extension() != ".json");
  write_atomically(dir.file("a.png"), [&](const std::string& tmp) { seen = tmp, std::ofstream(tmp) << "png"; },
                   {false, true});
  CHECK(fs::path(seen).extension() == ".png");
  // A folder that does not exist is named.
  CHECK_THROWS_WITH(write_text_atomically(dir.file("missing/x.json"), "x"), doctest::Contains("missing/x.json"));
}

TEST_CASE("create_stage validates parameters exactly as a pipeline node does") {
  // Range (temperature >= 1e-6) and choices (bilinear, bicubic, nearest):
  // build_graph refused these; create_stage used to let them through.
  const Error range = catch_error([] { create_stage(catalog(), "similarity_smoothing", {{"temperature", 0.0}}); });
  CHECK(contains(range.what(), "parameter 'temperature' = 0"));
  CHECK(contains(range.what(), "is outside"));
  CHECK(contains(range.what(), "node 'under_test'"));
  const Error choice = catch_error([] { create_stage(catalog(), "resize_logits", {{"mode", std::string("cubic")}}); });
  CHECK(contains(choice.what(), "not one of bilinear, bicubic, nearest"));
  const Error unknown = catch_error([] {
    create_stage(catalog(), "resize_logits", {{"mdoe", std::string("nearest")}});
  });
  CHECK(contains(unknown.what(), "unknown parameter 'mdoe'"));
  CHECK(contains(unknown.what(), "did you mean 'mode'"));
  // Lossless coercions still apply (an int for a float).
  CHECK(create_stage(catalog(), "similarity_smoothing", {{"temperature", int64_t{2}}}) != nullptr);
}

TEST_CASE("the recorded git commit carries a dirty flag, read at build time") {
  if (shell("git --version").rfind("git version", 0) != 0) return;  // no git here: nothing to check
  TempDir dir;
  const std::string repo = dir.file("repo"), header = dir.file("commit.h");
  const std::string script = "'" CMAKE_COMMAND "' -D SOURCE_DIR='" + repo + "' -D OUT='" + header +
                             "' -P '" OVSEG_SOURCE_DIR "/cmake/git_commit.cmake'";
  fs::create_directories(repo);
  shell(script);
  CHECK(contains(read_file(header), "#define OVSEG_GIT_COMMIT \"unknown\""));  // not a checkout
  write_file(repo + "/a.txt", "one\n");
  shell("cd '" + repo + "' && git init -q && git add a.txt && git -c user.name=t -c user.email=t@t commit -qm one");
  const std::string sha = shell("cd '" + repo + "' && git rev-parse HEAD").substr(0, 40);
  shell(script);
  CHECK(contains(read_file(header), "#define OVSEG_GIT_COMMIT \"" + sha + "\""));
  write_file(repo + "/a.txt", "two\n");
  shell(script);
  CHECK(contains(read_file(header), "#define OVSEG_GIT_COMMIT \"" + sha + "-dirty\""));
  write_file(repo + "/untracked.txt", "x\n");  // untracked files do not count
  write_file(repo + "/a.txt", "one\n");
  shell(script);
  CHECK(contains(read_file(header), "#define OVSEG_GIT_COMMIT \"" + sha + "\""));
}
