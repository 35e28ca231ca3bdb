// --set overrides: parsing, value types, application before validation and
// the errors they can cause.
#include "foundation_util.hpp"

using namespace ovseg;
using namespace ovseg_test;

namespace {
// The value an override gives `key` of node `node` in the parsed spec.
ParamValue overridden(const std::string& node, const std::string& key, const std::string& value) {
  const std::string text = "nodes." + node + "." + key + "=" + value;
  const PipelineSpec spec = parse_pipeline_spec(kMiniPipeline, "mem.toml", {parse_override(text)});
  for (const auto& n : spec.nodes)
    if (n.id == node) {
      REQUIRE(n.params.count(key) == 1);
      CHECK(n.params.at(key).where.file == "--set " + text);
      CHECK(n.params.at(key).where.line == 0);
      return n.params.at(key).value;
    }
  FAIL("no node " << node);
  return {};
}
}  // namespace

TEST_CASE("parse_override splits the path and keeps the value text") {
  const Override ov = parse_override("nodes.encoder.patch_size=8");
  CHECK(ov.path == std::vector<std::string>{"nodes", "encoder", "patch_size"});
  CHECK(ov.value_text == "8");
  CHECK(ov.original == "nodes.encoder.patch_size=8");

  const Override eq = parse_override("nodes.a.b=x=y");  // only the first '=' splits
  CHECK(eq.path == std::vector<std::string>{"nodes", "a", "b"});
  CHECK(eq.value_text == "x=y");

  const Override empty = parse_override("protocol.note=");
  CHECK(empty.value_text.empty());
}

TEST_CASE("parse_override errors: missing '=', empty path part") {
  SUBCASE("no '='") {
    const Error e = catch_error([] { parse_override("nodes.encoder.patch_size"); });
    CHECK(e.where().file == "--set nodes.encoder.patch_size");
    CHECK(contains(e.what(), "has no '='"));
    CHECK(contains(e.fix(), "--set nodes.<node>.<param>=<value>"));
  }
  SUBCASE("leading '='") {
    // It has an '=': what is missing is the parameter before it.
    CHECK(contains(catch_error([] { parse_override("=3"); }).what(), "override '=3' names no parameter before '='"));
  }
  SUBCASE("empty part") {
    const Error e = catch_error([] { parse_override("nodes..patch_size=3"); });
    CHECK(contains(e.what(), "override path 'nodes..patch_size' has an empty part"));
  }
}

TEST_CASE("override values are parsed as TOML, else taken as bare words") {
  CHECK(std::get<int64_t>(overridden("encoder", "patch_size", "8")) == 8);
  CHECK(std::get<int64_t>(overridden("encoder", "patch_size", "-3")) == -3);
  CHECK(std::get<double>(overridden("logits", "logit_scale", "2.5")) == 2.5);
  CHECK(std::get<double>(overridden("logits", "logit_scale", "1e3")) == 1000.0);
  CHECK(std::get<bool>(overridden("classes", "normalize", "false")) == false);
  CHECK(std::get<bool>(overridden("classes", "normalize", "true")) == true);
  CHECK(std::get<std::vector<int64_t>>(overridden("encoder", "x", "[8, 16]")) == std::vector<int64_t>{8, 16});
  CHECK(std::get<std::vector<double>>(overridden("encoder", "mean", "[0.1, 0.2, 0.3]")) ==
        std::vector<double>{0.1, 0.2, 0.3});
  CHECK(std::get<std::vector<std::string>>(overridden("classes", "class_names", "[\"a\", \"b\"]")) ==
        std::vector<std::string>{"a", "b"});
  CHECK(std::get<std::string>(overridden("classes", "file", "\"emb.npy\"")) == "emb.npy");
  CHECK(std::get<std::string>(overridden("classes", "file", "emb.npy")) == "emb.npy");  // bare word
  CHECK(std::get<std::string>(overridden("classes", "file", "bilinear")) == "bilinear");
  CHECK(std::get<std::string>(overridden("classes", "file", "two words")) == "two words");
}

TEST_CASE("--set changes parameters before validation") {
  const Graph g = build(kMiniPipeline, {parse_override("nodes.encoder.patch_size=16"),
                                        parse_override("nodes.encoder.histogram_bins=4"),
                                        parse_override("nodes.logits.logit_scale=3")});
  const Params& enc = g.nodes[g.index_of("encoder")].params;
  CHECK(enc.get_int("patch_size") == 16);                                       // replaced
  CHECK(enc.get_int("histogram_bins") == 4);                                    // added
  CHECK(g.nodes[g.index_of("logits")].params.get_float("logit_scale") == 3.0);  // int -> float
  CHECK(contains(g.spec.resolved_toml, "patch_size = 16"));
  CHECK(contains(g.spec.resolved_toml, "histogram_bins = 4"));
  CHECK(contains(g.describe(), "patch_size = 16   (set)"));
  CHECK(contains(g.describe(), "histogram_bins = 4   (set)"));
}

TEST_CASE("later overrides win") {
  const Graph g = build(kMiniPipeline,
                        {parse_override("nodes.encoder.patch_size=8"), parse_override("nodes.encoder.patch_size=2")});
  CHECK(g.nodes[g.index_of("encoder")].params.get_int("patch_size") == 2);
}

TEST_CASE("--set can rewire an input") {
  const std::string text = replace_once(kMiniPipeline, "\"encoder.features\"", "\"encoder.tokens\"");
  CHECK_THROWS_AS(build(text), Error);
  const Graph g = build(text, {parse_override("nodes.logits.inputs.features=\"encoder.features\"")});
  CHECK(g.nodes[g.index_of("logits")].inputs.at("features").str(g) == "encoder.features");
}

TEST_CASE("an override of an unknown node errors with did-you-mean") {
  const Error e = catch_error([] { build(kMiniPipeline, {parse_override("nodes.encodr.patch_size=8")}); });
  const std::string message = e.what();
  INFO(message);
  CHECK(e.where().file == "--set nodes.encodr.patch_size=8");
  CHECK(e.node() == "encodr");
  CHECK(contains(e.what(), "override names 'encodr', which is not a table in the pipeline"));
  CHECK(contains(e.what(), "did you mean 'encoder'?"));
}

TEST_CASE("an override adds a node by naming its plugin first") {
  const Graph g = build(kMiniPipeline, {parse_override("nodes.extra.plugin=\"argmax\""),
                                        parse_override("nodes.extra.inputs={ logits = \"logits.logits\" }")});
  REQUIRE(g.index_of("extra") >= 0);
  CHECK(g.nodes[g.index_of("extra")].plugin->descriptor.name == "argmax");
  // Any other key of an unknown node is still a typo.
  const Error e = catch_error([] { build(kMiniPipeline, {parse_override("nodes.extra.inputs={}")}); });
  CHECK(contains(e.what(), "add a node with --set nodes.extra.plugin=NAME first"));
}

TEST_CASE("an override of an unknown top-level table errors") {
  const Error e = catch_error([] { build(kMiniPipeline, {parse_override("node.encoder.patch_size=8")}); });
  CHECK(e.where().file == "--set node.encoder.patch_size=8");
  CHECK(contains(e.what(), "did you mean 'nodes'?"));
}

TEST_CASE("an override path that is too short errors") {
  const Error e = catch_error([] { build(kMiniPipeline, {parse_override("nodes=1")}); });
  CHECK(contains(e.what(), "override path 'nodes=1' is too short"));
}

TEST_CASE("an overridden value with a bad type names the --set as its location") {
  const Error e = catch_error([] { build(kMiniPipeline, {parse_override("nodes.encoder.patch_size=big")}); });
  const std::string message = e.what();
  INFO(message);
  CHECK(e.where().file == "--set nodes.encoder.patch_size=big");
  CHECK(e.where().line == 0);
  CHECK(e.node() == "encoder");
  CHECK(std::string(e.what()).rfind("--set nodes.encoder.patch_size=big: error: node 'encoder': ", 0) == 0);
  CHECK(contains(e.what(), "parameter 'patch_size' expects int, got string \"big\""));
}

TEST_CASE("an overridden value out of range or unknown names the --set") {
  SUBCASE("range") {
    const Error e = catch_error([] { build(kMiniPipeline, {parse_override("nodes.encoder.patch_size=0")}); });
    CHECK(e.where().file == "--set nodes.encoder.patch_size=0");
    CHECK(contains(e.what(), "is outside [1, 512]"));
  }
  SUBCASE("unknown parameter") {
    const Error e = catch_error([] { build(kMiniPipeline, {parse_override("nodes.encoder.patchsize=2")}); });
    CHECK(e.where().file == "--set nodes.encoder.patchsize=2");
    CHECK(contains(e.what(), "did you mean 'patch_size'?"));
  }
}

TEST_CASE("--set protocol.x=1 creates the protocol table") {
  const PipelineSpec spec = parse_pipeline_spec(kMiniPipeline, "mem.toml",
                                                {parse_override("protocol.x=1"),
                                                 parse_override("protocol.mode=slide")});
  REQUIRE(spec.protocol.size() == 2);
  CHECK(std::get<int64_t>(spec.protocol.at("x").value) == 1);
  CHECK(spec.protocol.at("x").where.file == "--set protocol.x=1");
  CHECK(std::get<std::string>(spec.protocol.at("mode").value) == "slide");
  CHECK(contains(spec.resolved_toml, "[protocol]"));
  // And it reaches the graph.
  const Graph g = build(kMiniPipeline, {parse_override("protocol.x=1")});
  CHECK(contains(g.describe(), "protocol: x=1"));
}

TEST_CASE("--set on an existing protocol table updates it") {
  const std::string text = kMiniPipeline + "\n[protocol]\nx = 5\ny = 2\n";
  const PipelineSpec spec = parse_pipeline_spec(text, "mem.toml", {parse_override("protocol.x=7")});
  CHECK(std::get<int64_t>(spec.protocol.at("x").value) == 7);
  CHECK(std::get<int64_t>(spec.protocol.at("y").value) == 2);
  CHECK(spec.protocol.at("y").where.line == line_of(text, "y = 2"));
}
