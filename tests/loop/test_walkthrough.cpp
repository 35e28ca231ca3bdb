// README "A research loop in five commands": the fenced block between the
// `<!-- walkthrough -->` markers, read from the README and run as written by
// bash in a scratch folder laid out like the repository root (build/ and
// host/ link to the real ones, pipelines/ is a copy the walkthrough may
// write into). The one change: the world has 8 scenes instead of 100.
#include <doctest/doctest.h>

#include <cstdio>
#include <sys/wait.h>

#include "loop_test_util.hpp"

using namespace loop_test;

namespace {

// The shell block after the marker, as the README prints it.
std::string walkthrough_block() {
  const std::string readme = read_file(kSourceDir + "/README.md");
  const size_t marker = readme.find("<!-- walkthrough -->");
  REQUIRE_MESSAGE(marker != std::string::npos, "README.md has no <!-- walkthrough --> marker");
  const size_t open = readme.find("```sh\n", marker);
  const size_t end_marker = readme.find("<!-- /walkthrough -->", marker);
  REQUIRE(open != std::string::npos);
  REQUIRE(end_marker != std::string::npos);
  const size_t body = open + 6;
  const size_t close = readme.find("\n```", body);
  REQUIRE(close < end_marker);
  return readme.substr(body, close - body + 1);
}

struct ShellResult {
  int exit_code = -1;
  std::string output;
};

ShellResult run_shell(const std::string& dir, const std::string& script_file) {
  const std::string cmd = "cd " + quoted(dir) + " && bash -eu " + quoted(script_file) + " 2>&1";
  ShellResult r;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

}  // namespace

TEST_CASE("the README's research-loop walkthrough runs as written") {
  std::string block = walkthrough_block();
  const std::string full_world = "--val 100";
  const size_t at = block.find(full_world);
  REQUIRE_MESSAGE(at != std::string::npos, "the walkthrough no longer generates the world with --val 100");
  block.replace(at, full_world.size(), "--val 8");

  TempDir root;
  fs::create_directory_symlink(OVSEG_BINARY_DIR, root.path() / "build");
  fs::create_directory_symlink(kSourceDir + "/host", root.path() / "host");
  fs::copy(kSourceDir + "/pipelines", root.path() / "pipelines", fs::copy_options::recursive);
  write_file(root.file("walkthrough.sh"), block);
  const ShellResult r = run_shell(root.path().string(), root.file("walkthrough.sh"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);

  const std::string study = root.file("work_dirs/loop");
  // maskclip, naclip (= the sweep's sigma 5), sigma 0 / 3 / 7 / 9, the full block.
  CHECK(record_count(study + "/records") == 7);
  CHECK(contains(r.output, "stored earlier"));  // sigma 5: the naclip run of step 1
  const std::string md = read_file(study + "/table.md");
  CHECK(contains(md, "| maskclip |"));
  CHECK(contains(md, "| naclip [gaussian_std=5.0] |"));
  CHECK(contains(md, "| naclip [gaussian_std=0.0] |"));
  CHECK(contains(md, "| naclip-full-block |"));
  for (const char* ext : {".md", ".tex", ".html"}) CHECK(fs::exists(study + "/naclip-sigma" + ext));
  const std::string paper = read_file(study + "/paper.tex");
  CHECK(contains(paper, "\\begin{table}"));
  CHECK(contains(paper, "naclip-full-block"));
  CHECK(contains(read_file(study + "/commands.txt"), "ovseg sweep"));
}
