// The `ovseg` CLI end to end: exit codes (0 ok, 1 bad input, 2 usage), the
// one-line error messages with file:line, and a real run writing
// labels.png, overlay.png and logits.npy.
#include <ATen/ATen.h>

#include <opencv2/imgcodecs.hpp>

#include "foundation_util.hpp"
#include "ovseg/sdk/npy.hpp"

using namespace ovseg;
using namespace ovseg_test;

namespace {

const std::string kColourPipeline = kSourceDir + "/pipelines/colour_prototypes.toml";
const std::string kBeach = kSourceDir + "/pipelines/examples/beach.png";

size_t count_lines(const std::string& s) { return static_cast<size_t>(std::count(s.begin(), s.end(), '\n')); }

// A bad pipeline for `ovseg check` (and optionally `ovseg run`): expected
// exit code 1 and exactly one line of output starting with file:line:,
// naming the node and containing `part`.
struct BadPipeline {
  std::string name, text, marker, node, part;
  bool also_run = false;
};

void expect_bad_pipelines(const TempDir& dir, const std::vector<BadPipeline>& cases) {
  std::vector<std::string> commands;
  std::vector<const BadPipeline*> owner;
  for (const auto& c : cases) {
    const std::string path = dir.file(c.name);
    write_file(path, c.text);
    commands.push_back("check " + quoted(path));
    owner.push_back(&c);
    if (c.also_run) {
      commands.push_back("run " + quoted(path) + " --image " + quoted(kBeach) + " --out " +
                         quoted(dir.file("out_" + c.name)));
      owner.push_back(&c);
    }
  }
  const std::vector<CliResult> results = run_cli_batch(commands);
  for (size_t i = 0; i < commands.size(); ++i) {
    const BadPipeline& c = *owner[i];
    const CliResult& r = results[i];
    const std::string where = dir.file(c.name) + ":" + std::to_string(line_of(c.text, c.marker)) + ":";
    INFO("ovseg " << commands[i] << "\n" << r.output);
    CHECK(r.exit_code == 1);
    CHECK(count_lines(r.output) == 1);
    CHECK(r.output.rfind(where, 0) == 0);  // starts with file:line:
    CHECK(contains(r.output, "error: "));
    if (!c.node.empty()) CHECK(contains(r.output, "node '" + c.node + "'"));
    CHECK(contains(r.output, c.part));
    CHECK_FALSE(fs::exists(dir.file("out_" + c.name)));  // nothing written on failure
  }
}

}  // namespace

TEST_CASE("ovseg run on the bundled example writes the three outputs") {
  TempDir dir;
  const std::string out = dir.file("beach");
  const CliResult r = run_cli("run " + quoted(kColourPipeline) + " --image " + quoted(kBeach) + " --out " +
                              quoted(out));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(contains(r.output, "pipeline 'colour-prototypes'"));
  CHECK(contains(r.output, "(logits 6x240x320 float32)"));

  // logits.npy: float32 (K,H,W)
  const at::Tensor logits = read_npy(out + "/logits.npy");
  CHECK((logits.scalar_type() == at::kFloat));
  REQUIRE(logits.sizes() == at::IntArrayRef({6, 240, 320}));
  CHECK(logits.isfinite().all().item<bool>());
  CHECK(logits.abs().max().item<float>() <= 40.0f + 1e-3f);  // cosine * logit_scale 40

  // labels.png: 8-bit, image-sized, class indices < 6, = argmax of the logits
  const cv::Mat labels = cv::imread(out + "/labels.png", cv::IMREAD_UNCHANGED);
  REQUIRE_FALSE(labels.empty());
  CHECK(labels.type() == CV_8UC1);
  CHECK(labels.cols == 320);
  CHECK(labels.rows == 240);
  double lo = 0, hi = 0;
  cv::minMaxLoc(labels, &lo, &hi);
  CHECK(hi < 6);
  // run applies the [protocol] (as eval): the argmax node labels the 448x336
  // working image and its labels are resized (nearest) to the image, while
  // logits.npy is the stitched logits resized bilinearly, so the two differ
  // along class borders only (measured: 98.9 % equal).
  const at::Tensor argmax = logits.argmax(0).to(at::kByte).contiguous();
  const at::Tensor from_png = at::from_blob(labels.data, {labels.rows, labels.cols}, at::kByte).clone();
  CHECK(from_png.eq(argmax).to(at::kFloat).mean().item<float>() > 0.98f);

  // Semantic sanity: sky at the top-left, several classes present.
  CHECK(labels.at<uint8_t>(0, 0) == 0);  // "sky"
  CHECK(logits.select(1, 0).select(1, 0).argmax().item<int64_t>() == 0);
  CHECK(std::get<0>(at::_unique(from_png)).size(0) >= 3);

  // overlay.png: colour, image-sized, a blend (not the bare image).
  const cv::Mat overlay = cv::imread(out + "/overlay.png", cv::IMREAD_UNCHANGED);
  REQUIRE_FALSE(overlay.empty());
  CHECK(overlay.type() == CV_8UC3);
  CHECK(overlay.cols == 320);
  CHECK(overlay.rows == 240);
  const cv::Mat beach = cv::imread(kBeach, cv::IMREAD_COLOR);
  CHECK(cv::norm(overlay, beach, cv::NORM_L1) > 0);
  for (const char* f : {"labels.png.tmp.png", "overlay.png.tmp.png", "logits.npy.tmp"})
    CHECK_FALSE(fs::exists(out + "/" + f));
}

TEST_CASE("ovseg run honours --set") {
  TempDir dir;
  const std::string out = dir.file("o");
  const CliResult r = run_cli("run " + quoted(kColourPipeline) + " --image " + quoted(kBeach) + " --out " +
                              quoted(out) + " --set nodes.upsample.mode=nearest --set=protocol.prob_thd=0.3");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(fs::exists(out + "/logits.npy"));
}

TEST_CASE("ovseg exit code 0: plugins, check, --help everywhere") {
  const std::vector<std::string> args = {"plugins",       "plugins argmax",
                                         "plugins argmx", "check " + quoted(kColourPipeline),
                                         "--help",        "plugins --help",
                                         "check --help",  "run -h"};
  const std::vector<CliResult> r = run_cli_batch(args);
  {
    INFO(r[0].output);
    CHECK(r[0].exit_code == 0);
    for (const char* name :
         {"pixel_features", "similarity_smoothing", "class_embeddings", "cosine_logits", "resize_logits", "argmax"})
      CHECK(contains(r[0].output, name));
    CHECK(contains(r[0].output, " plugins\n"));  // the count line
    CHECK(contains(r[0].output, "param patch_size: int = 8"));
    CHECK(contains(r[0].output, "[1, 512]"));
    CHECK(contains(r[0].output, "{bilinear, bicubic, nearest}"));
    CHECK_FALSE(contains(r[0].output, "warning"));
    // Encoders are listed before fusion and postprocess.
    CHECK(r[0].output.find("pixel_features  [encoder]") < r[0].output.find("cosine_logits  [fusion]"));
    CHECK(r[0].output.find("cosine_logits  [fusion]") < r[0].output.find("argmax  [postprocess]"));
  }
  CHECK(r[1].exit_code == 0);
  CHECK(contains(r[1].output, "library "));
  CHECK(r[2].exit_code == 1);  // no such plugin
  CHECK(contains(r[2].output, "did you mean 'argmax'?"));
  {
    INFO(r[3].output);
    CHECK(r[3].exit_code == 0);
    CHECK(contains(r[3].output, "nodes in execution order:"));
    CHECK(contains(r[3].output, "ok: 6 nodes valid"));
  }
  for (size_t i = 4; i < args.size(); ++i) {
    INFO("ovseg " << args[i] << "\n" << r[i].output);
    CHECK(r[i].exit_code == 0);
    CHECK(contains(r[i].output, "usage: ovseg"));
  }
  CHECK(contains(r[4].output, "check"));
  CHECK(contains(r[6].output, "--dot FILE"));
  CHECK(contains(r[7].output, "--image IMG"));
}

TEST_CASE("ovseg check --dot FILE writes a digraph") {
  TempDir dir;
  const std::string dot = dir.file("g.dot");
  const std::vector<CliResult> both = run_cli_batch(
      {"check " + quoted(kColourPipeline) + " --dot " + quoted(dot),
       "check " + quoted(kColourPipeline) + " --dot " + quoted(dir.file("no/dir/g.dot"))});
  const CliResult& r = both[0];
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(contains(r.output, "wrote " + dot));
  const std::string text = read_file(dot);
  CHECK(text.rfind("digraph \"colour-prototypes\" {", 0) == 0);
  CHECK(contains(text, "\"encoder\" -> \"refine\""));
  CHECK(contains(text, "\"upsample\" -> \"labels\""));

  const CliResult& bad = both[1];
  CHECK(bad.exit_code == 1);
  CHECK(contains(bad.output, "cannot write Graphviz file"));
}

TEST_CASE("ovseg exit code 2: usage errors") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "usage: ovseg COMMAND"},
      {"chek x.toml", "unknown command 'chek' (did you mean 'check'?)"},
      {"check " + quoted(kColourPipeline) + " --devce cpu", "unknown option '--devce' (did you mean '--device'?)"},
      {"run " + quoted(kColourPipeline) + " --out /tmp/x", "--image IMG is required"},
      {"run " + quoted(kColourPipeline) + " --image " + quoted(kBeach), "--out DIR is required"},
      {"check", "missing argument"},
      {"run " + quoted(kColourPipeline) + " --image a.png --image b.png --out o", "--image given twice"},
      // Checked before any scene is drawn (OpenCV ran out of memory instead).
      {"world --out /nonexistent/w --train 0 --val 1 --val-size 100000",
       "ovseg world: --val-size 100000 is outside 1..8192 px"},
  };
  std::vector<std::string> args;
  for (const auto& c : cases) args.push_back(c.first);
  const std::vector<CliResult> r = run_cli_batch(args);
  for (size_t i = 0; i < cases.size(); ++i) {
    INFO("ovseg " << cases[i].first << "\n" << r[i].output);
    CHECK(r[i].exit_code == 2);
    CHECK(contains(r[i].output, cases[i].second));
  }
}

TEST_CASE("ovseg exit code 1 with a one-line file:line message on each bad pipeline") {
  TempDir dir;
  const std::string& base = kMiniPipeline;
  const std::string dup = base + "\n[nodes.encoder]\nplugin = \"argmax\"\n";
  const std::vector<BadPipeline> cases = {
      {"syntax.toml", replace_once(base, "patch_size = 4", "patch_size = = 4"), "= = 4", "", "TOML syntax error"},
      {"plugin.toml", replace_once(base, "\"cosine_logits\"", "\"cosine_logit\""), "cosine_logit\"", "logits",
       "(near: cosine_logits"},
      {"param.toml", replace_once(base, "logit_scale = 10", "logit_scal = 10"), "logit_scal", "logits",
       "did you mean 'logit_scale'?"},
      {"type.toml", replace_once(base, "logit_scale = 10", "logit_scale = \"big\""), "logit_scale", "logits",
       "expects float, got string", true},
      {"range.toml", replace_once(base, "patch_size = 4", "patch_size = 0"), "patch_size", "encoder",
       "is outside [1, 512]"},
      {"missing.toml", replace_once(base, ", text = \"classes.embeddings\"", ""), "[nodes.logits]", "logits",
       "required input 'text'"},
      {"dangling.toml", replace_once(base, "\"encoder.features\"", "\"encodr.features\""), "encodr", "logits",
       "did you mean 'encoder'?"},
      {"porttype.toml", replace_once(base, "\"encoder.features\"", "\"encoder.tokens\""), "encoder.tokens", "logits",
       "expects FeatureMap but encoder.tokens is Tokens"},
      {"cycle.toml",
       base + "\n[nodes.a]\nplugin = \"resize_logits\"\ninputs = { logits = \"b.logits\" }\n"
              "\n[nodes.b]\nplugin = \"resize_logits\"\ninputs = { logits = \"a.logits\" }\n",
       "[nodes.a]", "a", "the graph has a cycle: b -> a -> b"},
      // The repeated header is the one reported.
      {"dup.toml", dup, "[nodes.encoder]\nplugin = \"argmax\"", "encoder", "duplicate node id 'encoder'"},
      {"reserved.toml", replace_once(base, "[nodes.classes]", "[nodes.input]"), "[nodes.input]", "input", "reserved"},
      {"portsyntax.toml", replace_once(base, "\"input.image\"", "\"inputimage\""), "inputimage", "encoder",
       "is not of the form node.port"},
      {"toplevel.toml", base + "\n[node.x]\nplugin = \"argmax\"\n", "[node.x]", "", "did you mean 'nodes'?"},
      {"outputs.toml", replace_once(base, "logits = \"logits.logits\"", "logits = \"encoder.features\""),
       "logits = \"encoder.features\"", "encoder", "must name a Logits port"},
      {"nologits.toml", "[nodes.encoder]\nplugin = \"pixel_features\"\ninputs = { image = \"input.image\" }\n",
       "[nodes.encoder]", "", "produces no Logits"},
  };
  expect_bad_pipelines(dir, cases);
}

TEST_CASE("ovseg exit code 1 on a bad --set, a missing pipeline, a missing image, a bad device") {
  TempDir dir;
  const std::string missing_toml = dir.file("nope.toml");
  const std::string missing_png = dir.file("missing.png");
  // A PNG whose header claims 60000x60000 px (signature, IHDR, IEND).
  const std::string huge_png = dir.file("huge.png");
  const unsigned char png[] = {0x89, 'P', 'N', 'G',  '\r', '\n', 0x1A, '\n', 0,    0,   0,   13,   'I',  'H',  'D',
                               'R',  0,   0,   0xEA, 0x60, 0,    0,    0xEA, 0x60, 8,   2,   0,    0,    0,    0,
                               0,    0,   0,   0,    0,    0,    0,    'I',  'E',  'N', 'D', 0xAE, 0x42, 0x60, 0x82};
  write_file(huge_png, std::string(reinterpret_cast<const char*>(png), sizeof png));
  const std::string run = "run " + quoted(kColourPipeline) + " --out " + quoted(dir.file("o")) + " --image ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      // {args, expected start of the one line of output}
      {"check " + quoted(kColourPipeline) + " --set nodes.encoder.patch_size=big",
       "--set nodes.encoder.patch_size=big: error: node 'encoder': parameter 'patch_size' expects int"},
      {"check " + quoted(kColourPipeline) + " --set nodes.encodr.patch_size=4",
       "--set nodes.encodr.patch_size=4: error: node 'encodr': override names 'encodr'"},
      {"check " + quoted(kColourPipeline) + " --set nodes.encoder.patch_size",
       "--set nodes.encoder.patch_size: error: override 'nodes.encoder.patch_size' has no '='"},
      {"check " + quoted(kColourPipeline) + " --set =3",
       "--set =3: error: override '=3' names no parameter before '='"},
      {"check " + quoted(missing_toml), missing_toml + ": error: cannot open pipeline file"},
      {"check " + quoted(dir.path().string()), dir.path().string() + ": error: is a directory, not a pipeline file"},
      {run + quoted(huge_png), huge_png + ": error: the image file is a PNG of 60000x60000 px"},
      {"run " + quoted(kColourPipeline) + " --out /proc/ovseg-out --image " + quoted(kBeach),
       "/proc/ovseg-out: error: cannot write --out here: "},
      {run + quoted(missing_png), missing_png + ": error: image file not found"},
      {run + quoted(kBeach) + " --device tpu", "error: unknown device 'tpu'"},
      {"check " + quoted(kColourPipeline) + " --plugin-dir " + quoted(dir.file("nodir")),
       dir.file("nodir") + ": error: plugin directory does not exist"},
  };
  std::vector<std::string> args;
  for (const auto& c : cases) args.push_back(c.first);
  const std::vector<CliResult> r = run_cli_batch(args);
  for (size_t i = 0; i < cases.size(); ++i) {
    INFO("ovseg " << cases[i].first << "\n" << r[i].output);
    CHECK(r[i].exit_code == 1);
    CHECK(count_lines(r[i].output) == 1);
    CHECK(r[i].output.rfind(cases[i].second, 0) == 0);
  }
  CHECK(contains(r[1].output, "did you mean 'encoder'?"));
  CHECK_FALSE(fs::exists(dir.file("o")));
}

TEST_CASE("ovseg warns about a broken plugin on the path but still works") {
  TempDir dir;
  write_file(dir.file("libovseg_plugin_garbage.so"), "garbage");
  write_file(dir.file("libovseg_plugin_empty.so"), "");
  const CliResult r = run_cli("check " + quoted(kColourPipeline) + " --plugin-dir " + quoted(dir.path().string()));
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(contains(r.output, "warning: " + dir.file("libovseg_plugin_garbage.so")));
  // What the file is, not dlopen's errno text ("Bad file descriptor").
  CHECK(contains(r.output, "libovseg_plugin_garbage.so: error: cannot load plugin library: not a shared library"));
  CHECK(contains(r.output, "libovseg_plugin_empty.so: error: cannot load plugin library: the file is empty"));
  CHECK_FALSE(contains(r.output, "Bad file descriptor"));
  CHECK(contains(r.output, "ok: 6 nodes valid"));
}
