// Graph building from valid TOML: spec contents, execution order, parameter
// defaults and coercion, describe() and to_dot().
#include "foundation_util.hpp"

using namespace ovseg;
using namespace ovseg_test;

TEST_CASE("parse_pipeline_spec reads nodes, inputs, params and outputs with locations") {
  const PipelineSpec spec = parse_pipeline_spec(kMiniPipeline, "mem.toml");
  CHECK(spec.file == "mem.toml");
  CHECK(spec.name == "mini");
  CHECK(spec.description == "two classes, patch resolution");
  REQUIRE(spec.nodes.size() == 3);
  // File order, not key order.
  CHECK(spec.nodes[0].id == "encoder");
  CHECK(spec.nodes[1].id == "classes");
  CHECK(spec.nodes[2].id == "logits");

  const NodeSpec& enc = spec.nodes[0];
  CHECK(enc.plugin == "pixel_features");
  CHECK(enc.where.file == "mem.toml");
  CHECK(enc.where.line == line_of(kMiniPipeline, "[nodes.encoder]"));
  CHECK(enc.plugin_where.line == line_of(kMiniPipeline, "plugin = \"pixel_features\""));
  REQUIRE(enc.inputs.size() == 1);
  CHECK(enc.inputs[0].port == "image");
  CHECK(enc.inputs[0].source_node == "input");
  CHECK(enc.inputs[0].source_port == "image");
  CHECK(enc.inputs[0].where.line == line_of(kMiniPipeline, "inputs = { image"));
  REQUIRE(enc.params.count("patch_size") == 1);
  CHECK(std::get<int64_t>(enc.params.at("patch_size").value) == 4);
  CHECK(enc.params.at("patch_size").where.line == line_of(kMiniPipeline, "patch_size = 4"));
  CHECK(enc.params.at("patch_size").where.column == 14);  // the value

  const NodeSpec& cls = spec.nodes[1];
  CHECK(std::get<std::vector<std::string>>(cls.params.at("class_names").value) ==
        std::vector<std::string>{"dark", "light"});
  CHECK(std::get<std::vector<int64_t>>(cls.params.at("embeddings").value) == std::vector<int64_t>{-1, -1, -1, 1, 1, 1});

  REQUIRE(spec.outputs.count("logits") == 1);
  CHECK(spec.outputs.at("logits").source_node == "logits");
  CHECK(spec.outputs.at("logits").source_port == "logits");
  CHECK(spec.outputs.at("logits").where.line == line_of(kMiniPipeline, "logits = \"logits.logits\""));
  CHECK(spec.outputs.count("labels") == 0);
  CHECK(contains(spec.resolved_toml, "pixel_features"));
}

TEST_CASE("pipeline name defaults to the file stem; [protocol] values are kept") {
  const std::string text = replace_once(kMiniPipeline, "name = \"mini\"\n", "") +
                           "\n[protocol]\nslide_crop = 224\nmode = \"slide\"\n";
  const PipelineSpec spec = parse_pipeline_spec(text, "some/dir/my_pipe.toml");
  CHECK(spec.name == "my_pipe");
  REQUIRE(spec.protocol.size() == 2);
  CHECK(std::get<int64_t>(spec.protocol.at("slide_crop").value) == 224);
  CHECK(std::get<std::string>(spec.protocol.at("mode").value) == "slide");
  CHECK(spec.protocol.at("slide_crop").where.line == line_of(text, "slide_crop"));
}

TEST_CASE("build_graph orders nodes, fills defaults and coerces int to float") {
  const Graph g = build(kMiniPipeline);
  REQUIRE(g.nodes.size() == 3);
  // encoder and classes have no dependency between them: file order decides.
  CHECK(g.nodes[0].id == "encoder");
  CHECK(g.nodes[1].id == "classes");
  CHECK(g.nodes[2].id == "logits");
  CHECK(g.index_of("logits") == 2);
  CHECK(g.index_of("nope") == -1);
  CHECK(g.nodes[0].plugin->descriptor.name == "pixel_features");
  CHECK(g.nodes[0].where.line == line_of(kMiniPipeline, "[nodes.encoder]"));

  const Params& enc = g.nodes[0].params;
  CHECK(enc.get_int("patch_size") == 4);           // set
  CHECK(enc.get_int("histogram_bins") == 0);       // default
  CHECK(enc.get_float("position_weight") == 0.0);  // default
  CHECK(enc.get<std::vector<double>>("mean") == std::vector<double>{0.5, 0.5, 0.5});

  const Params& cls = g.nodes[1].params;
  // int list -> float list, bool default
  CHECK(cls.get<std::vector<double>>("embeddings") == std::vector<double>{-1, -1, -1, 1, 1, 1});
  CHECK(cls.get_bool("normalize") == true);
  CHECK(cls.get_string("file").empty());

  const Params& logits = g.nodes[2].params;
  CHECK(logits.get_float("logit_scale") == doctest::Approx(10.0));  // int 10 -> float
  CHECK_THROWS_AS(logits.get_int("logit_scale"), std::invalid_argument);
  CHECK_THROWS_AS(logits.get_float("nope"), std::out_of_range);

  // Wiring
  REQUIRE(g.nodes[2].inputs.count("features") == 1);
  CHECK(g.nodes[2].inputs.at("features").node == 0);
  CHECK(g.nodes[2].inputs.at("features").str(g) == "encoder.features");
  CHECK(g.nodes[2].inputs.at("text").str(g) == "classes.embeddings");
  CHECK(g.nodes[0].inputs.at("image").node == -1);
  CHECK(g.nodes[0].inputs.at("image").str(g) == "input.image");
  CHECK(g.logits_output.str(g) == "logits.logits");
  CHECK_FALSE(g.labels_output.has_value());
}

TEST_CASE("without [outputs], the last Logits and LabelMap produced are the outputs") {
  const std::string text = replace_once(kMiniPipeline, "[outputs]\nlogits = \"logits.logits\"\n",
                                        "[nodes.labels]\nplugin = \"argmax\"\n"
                                        "inputs = { logits = \"logits.logits\" }\n");
  const Graph g = build(text);
  CHECK(g.logits_output.str(g) == "logits.logits");
  REQUIRE(g.labels_output.has_value());
  CHECK(g.labels_output->str(g) == "labels.labels");
}

TEST_CASE("the bundled colour_prototypes pipeline builds in dependency order") {
  const Graph g = build_graph(load_pipeline_spec(kSourceDir + "/pipelines/colour_prototypes.toml"), catalog());
  std::vector<std::string> ids;
  for (const auto& n : g.nodes) ids.push_back(n.id);
  CHECK(ids == std::vector<std::string>{"encoder", "refine", "classes", "logits", "upsample", "labels"});
  CHECK(g.spec.name == "colour-prototypes");
  CHECK(g.logits_output.str(g) == "upsample.logits");
  CHECK(g.labels_output->str(g) == "labels.labels");
  CHECK(g.nodes[g.index_of("refine")].params.get_float("temperature") == doctest::Approx(0.05));
  CHECK(g.nodes[g.index_of("upsample")].params.get_string("mode") == "bilinear");
}

TEST_CASE("describe() prints the resolved graph") {
  const Graph g = build(kMiniPipeline);
  const std::string d = g.describe();
  INFO(d);
  CHECK(contains(d, "pipeline 'mini' (mem.toml)"));
  CHECK(contains(d, "two classes, patch resolution"));
  CHECK(contains(d, "nodes in execution order:"));
  CHECK(contains(d, "1. encoder = pixel_features (encoder)"));
  CHECK(contains(d, "2. classes = class_embeddings (encoder)"));
  CHECK(contains(d, "3. logits = cosine_logits (fusion)"));
  CHECK(contains(d, "in  image <- input.image"));
  CHECK(contains(d, "in  features <- encoder.features"));
  CHECK(contains(d, "out features: FeatureMap"));
  CHECK(contains(d, "patch_size = 4   (set)"));
  CHECK(contains(d, "histogram_bins = 0\n"));  // default: no "(set)"
  CHECK(contains(d, "logit_scale = 10.0   (set)"));
  CHECK(contains(d, "outputs: logits <- logits.logits, labels <- argmax(logits)"));
  CHECK(d.find("1. encoder") < d.find("3. logits"));
}

TEST_CASE("to_dot() writes a Graphviz digraph with typed edges") {
  const Graph g = build(kMiniPipeline);
  const std::string dot = g.to_dot();
  INFO(dot);
  CHECK(dot.rfind("digraph \"mini\" {", 0) == 0);
  CHECK(contains(dot, "\"input\" [shape=ellipse];"));
  CHECK(contains(dot, "\"encoder\" [label=\"encoder\\npixel_features (encoder)\"];"));
  CHECK(contains(dot, "\"input\" -> \"encoder\" [label=\"image -> image\\nImage\"];"));
  CHECK(contains(dot, "\"encoder\" -> \"logits\" [label=\"features -> features\\nFeatureMap\"];"));
  CHECK(contains(dot, "\"classes\" -> \"logits\" [label=\"embeddings -> text\\nTextEmbeddings\"];"));
  CHECK(dot.substr(dot.size() - 2) == "}\n");
}
