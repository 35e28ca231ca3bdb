// Every validation error: each names the right file:line, the right node and
// says what is wrong (and, where there is one, the near name).
#include "foundation_util.hpp"

using namespace ovseg;
using namespace ovseg_test;

namespace {
const std::string kFile = "mem.toml";
}

TEST_CASE("TOML syntax error reports line and column") {
  const std::string text = replace_once(kMiniPipeline, "patch_size = 4", "patch_size = = 4");
  const Error e = build_error(text);
  check_error(e, kFile, line_of(text, "patch_size = = 4"), "", {"TOML syntax error"});
  CHECK(e.where().column == 14);  // the second '='
  CHECK(contains(e.what(), "mem.toml:" + std::to_string(line_of(text, "= = 4")) + ":14: error:"));
  CHECK(contains(e.fix(), "syntax"));
}

TEST_CASE("TOML syntax error: unterminated inline table") {
  const std::string text = replace_once(kMiniPipeline, "inputs = { image = \"input.image\" }",
                                        "inputs = { image = \"input.image\"");
  const Error e = build_error(text);
  check_error(e, kFile, line_of(text, "inputs = { image"), "", {"TOML syntax error", "inline table"});
}

TEST_CASE("unknown plugin lists near names") {
  const std::string text = replace_once(kMiniPipeline, "plugin = \"cosine_logits\"", "plugin = \"cosine_logit\"");
  const Error e = build_error(text);
  check_error(e, kFile, line_of(text, "plugin = \"cosine_logit\""), "logits",
              {"unknown plugin 'cosine_logit'", "(near: cosine_logits", "ovseg plugins"});
  CHECK(e.where().column == 10);  // the string value
}

TEST_CASE("unknown plugin with nothing near says so without suggestions") {
  const std::string text = replace_once(kMiniPipeline, "plugin = \"cosine_logits\"", "plugin = \"zzzzzzzzzzzz\"");
  const Error e = build_error(text);
  check_error(e, kFile, line_of(text, "zzzzzzzzzzzz"), "logits", {"unknown plugin 'zzzzzzzzzzzz'"});
  CHECK_FALSE(contains(e.what(), "near:"));
}

TEST_CASE("unknown parameter suggests the near name") {
  const std::string text = replace_once(kMiniPipeline, "logit_scale = 10", "logit_scal = 10");
  const Error e = build_error(text);
  check_error(e, kFile, line_of(text, "logit_scal = 10"), "logits",
              {"unknown parameter 'logit_scal' for plugin 'cosine_logits'", "did you mean 'logit_scale'?"});
  CHECK(contains(e.fix(), "known parameters: logit_scale"));
}

TEST_CASE("a parameter named like an input port is pointed at inputs") {
  const std::string text = replace_once(kMiniPipeline, "logit_scale = 10", "text = \"classes.embeddings\"");
  const Error e = build_error(text);
  check_error(e, kFile, line_of(text, "text = \"classes.embeddings\"\n"), "logits",
              {"unknown parameter 'text'", "is an input port"});
}

TEST_CASE("mistyped parameter: string for float") {
  const std::string text = replace_once(kMiniPipeline, "logit_scale = 10", "logit_scale = \"big\"");
  const Error e = build_error(text);
  check_error(e, kFile, line_of(text, "logit_scale = \"big\""), "logits",
              {"parameter 'logit_scale' expects float, got string \"big\"", "logit_scale = 40.0"});
}

TEST_CASE("mistyped parameter: float for int, mixed array") {
  SUBCASE("float for int") {
    const std::string text = replace_once(kMiniPipeline, "patch_size = 4", "patch_size = 4.5");
    check_error(build_error(text), kFile, line_of(text, "patch_size = 4.5"), "encoder",
                {"parameter 'patch_size' expects int, got float 4.5"});
  }
  SUBCASE("array mixing numbers and strings") {
    const std::string text = replace_once(kMiniPipeline, "embeddings = [-1, -1, -1, 1, 1, 1]",
                                          "embeddings = [-1, \"x\"]");
    check_error(build_error(text), kFile, line_of(text, "embeddings = [-1, \"x\"]"), "classes",
                {"'embeddings' mixes value types"});
  }
}

TEST_CASE("out-of-range parameter names the range") {
  SUBCASE("int below min") {
    const std::string text = replace_once(kMiniPipeline, "patch_size = 4", "patch_size = 0");
    check_error(build_error(text), kFile, line_of(text, "patch_size = 0"), "encoder",
                {"parameter 'patch_size' = 0 is outside [1, 512]"});
  }
  SUBCASE("float below min") {
    const std::string text = replace_once(kMiniPipeline, "logit_scale = 10", "logit_scale = -1.5");
    check_error(build_error(text), kFile, line_of(text, "logit_scale = -1.5"), "logits",
                {"parameter 'logit_scale' = -1.5 is outside"});
  }
  SUBCASE("list element out of range") {
    const std::string text = replace_once(kMiniPipeline, "patch_size = 4", "patch_size = 4\nhistogram_bins = 65");
    check_error(build_error(text), kFile, line_of(text, "histogram_bins = 65"), "encoder",
                {"'histogram_bins' = 65 is outside [0, 64]"});
  }
}

TEST_CASE("bad choice lists the allowed values and the near one") {
  const std::string text = kMiniPipeline +
                           "\n[nodes.up]\nplugin = \"resize_logits\"\n"
                           "inputs = { logits = \"logits.logits\", image = \"input.image\" }\n"
                           "mode = \"bilinera\"\n";
  check_error(build_error(text), kFile, line_of(text, "mode = \"bilinera\""), "up",
              {"parameter 'mode' is \"bilinera\", not one of bilinear, bicubic, nearest", "did you mean 'bilinear'?"});
}

TEST_CASE("missing required input points at the node header") {
  const std::string text = replace_once(kMiniPipeline,
                                        "inputs = { features = \"encoder.features\", text = \"classes.embeddings\" }",
                                        "inputs = { features = \"encoder.features\" }");
  check_error(build_error(text), kFile, line_of(text, "[nodes.logits]"), "logits",
              {"required input 'text' (TextEmbeddings) is not connected"});
}

TEST_CASE("dangling inputs: unknown node, unknown port, unknown input port") {
  SUBCASE("unknown node") {
    const std::string text = replace_once(kMiniPipeline, "\"encoder.features\"", "\"encodr.features\"");
    const Error e = build_error(text);
    check_error(e, kFile, line_of(text, "encodr.features"), "logits",
                {"input 'features' refers to node 'encodr', which does not exist", "did you mean 'encoder'?"});
    CHECK(e.where().column == 23);  // the "encodr.features" string
  }
  SUBCASE("unknown output port of an existing node") {
    const std::string text = replace_once(kMiniPipeline, "\"encoder.features\"", "\"encoder.feature\"");
    check_error(build_error(text), kFile, line_of(text, "encoder.feature\""), "logits",
                {"node 'encoder' has no output 'feature'", "did you mean 'features'?",
                 "its outputs are: tokens, features"});
  }
  SUBCASE("unknown port of the pipeline input") {
    const std::string text = replace_once(kMiniPipeline, "\"input.image\"", "\"input.img\"");
    check_error(build_error(text), kFile, line_of(text, "input.img"), "encoder",
                {"node 'input' has no output 'img'", "did you mean 'image'?"});
  }
  SUBCASE("input port the plugin does not have") {
    const std::string text = replace_once(kMiniPipeline, "inputs = { image = \"input.image\" }",
                                          "inputs = { imag = \"input.image\" }");
    check_error(build_error(text), kFile, line_of(text, "imag ="), "encoder",
                {"plugin 'pixel_features' has no input port 'imag'", "did you mean 'image'?"});
  }
}

TEST_CASE("port type mismatch names both types") {
  const std::string text = replace_once(kMiniPipeline, "\"encoder.features\"", "\"encoder.tokens\"");
  check_error(build_error(text), kFile, line_of(text, "encoder.tokens"), "logits",
              {"input 'features' expects FeatureMap but encoder.tokens is Tokens"});
}

TEST_CASE("a cycle is shown as a path") {
  const std::string text = kMiniPipeline +
                           "\n[nodes.a]\nplugin = \"resize_logits\"\n"
                           "inputs = { logits = \"b.logits\" }\nscale_factor = 2.0\n"
                           "\n[nodes.b]\nplugin = \"resize_logits\"\n"
                           "inputs = { logits = \"a.logits\" }\nscale_factor = 0.5\n";
  const Error e = build_error(text);
  const std::string message = e.what();
  INFO(message);
  CHECK(e.where().file == kFile);
  const bool at_a = e.node() == "a";
  CHECK((e.node() == "a" || e.node() == "b"));
  CHECK(e.where().line == line_of(text, at_a ? "[nodes.a]" : "[nodes.b]"));
  CHECK(contains(e.what(), "the graph has a cycle: "));
  CHECK((contains(e.what(), "a -> b -> a") || contains(e.what(), "b -> a -> b")));
  CHECK(contains(e.fix(), "break the cycle"));
}

TEST_CASE("a longer cycle lists every node in data-flow order") {
  const std::string text = kMiniPipeline +
                           "\n[nodes.x]\nplugin = \"resize_logits\"\ninputs = { logits = \"z.logits\" }\n"
                           "\n[nodes.y]\nplugin = \"resize_logits\"\ninputs = { logits = \"x.logits\" }\n"
                           "\n[nodes.z]\nplugin = \"resize_logits\"\ninputs = { logits = \"y.logits\" }\n";
  const Error e = build_error(text);
  const std::string message = e.what();
  INFO(message);
  // x feeds y feeds z feeds x: any rotation of that, never the reverse.
  const bool ok = contains(e.what(), "x -> y -> z -> x") || contains(e.what(), "y -> z -> x -> y") ||
                  contains(e.what(), "z -> x -> y -> z");
  CHECK(ok);
  CHECK(e.where().line == line_of(text, "[nodes." + e.node() + "]"));
}

TEST_CASE("duplicate node id (a repeated [nodes.x] header)") {
  const std::string text = kMiniPipeline + "\n[nodes.encoder]\nplugin = \"argmax\"\n";
  const int second = static_cast<int>(text.rfind("[nodes.encoder]"));
  int line = 1;
  for (int i = 0; i < second; ++i) line += text[i] == '\n';
  const Error e = build_error(text);
  check_error(e, kFile, line, "encoder", {"duplicate node id 'encoder'"});
  CHECK(contains(e.fix(), "rename one of the [nodes.encoder] tables"));
}

TEST_CASE("reserved node id 'input'") {
  const std::string text = replace_once(kMiniPipeline, "[nodes.classes]", "[nodes.input]");
  check_error(build_error(text), kFile, line_of(text, "[nodes.input]"), "input", {"node id 'input' is reserved"});
}

TEST_CASE("invalid node id") {
  const std::string text = replace_once(kMiniPipeline, "[nodes.classes]", "[nodes.\"9 lives\"]");
  check_error(build_error(text), kFile, line_of(text, "[nodes.\"9 lives\"]"), "9 lives", {"is not a valid identifier"});
}

TEST_CASE("node without a plugin") {
  const std::string text = replace_once(kMiniPipeline, "plugin = \"class_embeddings\"\n", "");
  check_error(build_error(text), kFile, line_of(text, "[nodes.classes]"), "classes", {"node has no plugin"});
}

TEST_CASE("bad node.port syntax") {
  SUBCASE("in inputs") {
    const std::string text = replace_once(kMiniPipeline, "\"input.image\"", "\"inputimage\"");
    check_error(build_error(text), kFile, line_of(text, "inputimage"), "encoder",
                {"input 'image' 'inputimage' is not of the form node.port"});
  }
  SUBCASE("trailing dot") {
    const std::string text = replace_once(kMiniPipeline, "\"input.image\"", "\"input.\"");
    check_error(build_error(text), kFile, line_of(text, "\"input.\""), "encoder", {"is not of the form node.port"});
  }
  SUBCASE("in outputs") {
    const std::string text = replace_once(kMiniPipeline, "logits = \"logits.logits\"", "logits = \"logits\"");
    check_error(build_error(text), kFile, line_of(text, "logits = \"logits\""), "",
                {"output 'logits' 'logits' is not of the form node.port"});
  }
  SUBCASE("input not a string") {
    const std::string text = replace_once(kMiniPipeline, "\"input.image\"", "42");
    check_error(build_error(text), kFile, line_of(text, "image = 42"), "encoder", {"input 'image' must be a string"});
  }
}

TEST_CASE("unknown top-level table suggests the near name") {
  const std::string text = kMiniPipeline + "\n[node.extra]\nplugin = \"argmax\"\n";
  check_error(build_error(text), kFile, line_of(text, "[node.extra]"), "",
              {"unknown top-level key 'node'", "did you mean 'nodes'?"});
}

TEST_CASE("unknown keys in [pipeline] and [outputs]") {
  SUBCASE("[pipeline]") {
    const std::string text = replace_once(kMiniPipeline, "name = \"mini\"", "nmae = \"mini\"");
    check_error(build_error(text), kFile, line_of(text, "nmae"), "",
                {"unknown key 'nmae' in [pipeline]", "did you mean 'name'?"});
  }
  SUBCASE("[outputs]") {
    const std::string text = kMiniPipeline + "label = \"logits.logits\"\n";
    check_error(build_error(text), kFile, line_of(text, "label = "), "",
                {"unknown output 'label'", "did you mean 'labels'?"});
  }
}

TEST_CASE("[outputs] pointing at a non-Logits port or a missing node") {
  SUBCASE("FeatureMap as logits") {
    const std::string text = replace_once(kMiniPipeline, "logits = \"logits.logits\"", "logits = \"encoder.features\"");
    check_error(build_error(text), kFile, line_of(text, "logits = \"encoder.features\""), "encoder",
                {"output 'logits' must name a Logits port, but encoder.features is FeatureMap"});
  }
  SUBCASE("port that does not exist") {
    const std::string text = replace_once(kMiniPipeline, "logits = \"logits.logits\"", "logits = \"logits.scores\"");
    check_error(build_error(text), kFile, line_of(text, "logits.scores"), "logits", {"logits.scores does not exist"});
  }
  SUBCASE("node that does not exist") {
    const std::string text = replace_once(kMiniPipeline, "logits = \"logits.logits\"", "logits = \"logit.logits\"");
    check_error(build_error(text), kFile, line_of(text, "logit.logits"), "",
                {"output 'logits' refers to node 'logit', which does not exist", "did you mean 'logits'?"});
  }
  SUBCASE("labels must be a LabelMap") {
    const std::string text = kMiniPipeline + "labels = \"logits.logits\"\n";
    check_error(build_error(text), kFile, line_of(text, "labels = \"logits.logits\""), "logits",
                {"output 'labels' must name a LabelMap port, but logits.logits is Logits"});
  }
}

TEST_CASE("a pipeline with no Logits") {
  const std::string text = "[nodes.encoder]\nplugin = \"pixel_features\"\ninputs = { image = \"input.image\" }\n";
  check_error(build_error(text), kFile, 1, "", {"the pipeline produces no Logits", "cosine_logits"});
}

TEST_CASE("a pipeline with no nodes") {
  check_error(build_error("[pipeline]\nname = \"empty\"\n"), kFile, 1, "", {"the pipeline has no nodes"});
}

TEST_CASE("the first problem in file order is reported") {
  // Two bad nodes; the one written first is reported although its id sorts last.
  std::string text = replace_once(kMiniPipeline, "patch_size = 4", "patch_size = 0");
  text = replace_once(text, "logit_scale = 10", "logit_scale = -1.0");
  text = replace_once(text, "[nodes.encoder]", "[nodes.zz_encoder]");
  text = replace_once(text, "\"encoder.features\"", "\"zz_encoder.features\"");
  check_error(build_error(text), kFile, line_of(text, "patch_size = 0"), "zz_encoder", {"patch_size"});
}

TEST_CASE("load_pipeline_spec on a missing file names the file") {
  const Error e = catch_error([] { load_pipeline_spec("/nonexistent/pipe.toml"); });
  CHECK(e.where().file == "/nonexistent/pipe.toml");
  CHECK(contains(e.what(), "cannot open pipeline file"));
}

TEST_CASE("errors from a file carry its path") {
  TempDir dir;
  const std::string path = dir.file("bad.toml");
  const std::string text = replace_once(kMiniPipeline, "logit_scale = 10", "logit_scal = 10");
  write_file(path, text);
  const Error e = catch_error([&] { build_graph(load_pipeline_spec(path), catalog()); });
  check_error(e, path, line_of(text, "logit_scal"), "logits", {"did you mean 'logit_scale'?"});
}
