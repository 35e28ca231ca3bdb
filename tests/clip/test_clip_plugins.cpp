// clip_image and clip_text run through the real host, compared with the
// model called directly.
#include <doctest/doctest.h>

#include <fstream>

#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer brings it in LibTorch 2.x

#include "built_plugins.hpp"
#include "clip_test_env.hpp"
#include "ovseg/host/executor.hpp"
#include "ovseg/host/graph.hpp"
#include "ovseg/models/clip_tokenizer.hpp"
#include "ovseg/models/model_zoo.hpp"
#include "ovseg/sdk/npy.hpp"

using namespace ovseg;
namespace fs = std::filesystem;

namespace {

using ovseg_test::catalog;

std::string pipeline(const std::string& text_params) {
  const std::string ckpt = clip_test::env().checkpoint;
  return "[nodes.clip]\nplugin = \"clip_image\"\ninputs = { image = \"input.image\" }\nmodel = \"" + ckpt +
         "\"\n[nodes.text]\nplugin = \"clip_text\"\nmodel = \"" + ckpt + "\"\n" + text_params +
         "[nodes.logits]\nplugin = \"cosine_logits\"\n"
         "inputs = { features = \"clip.features\", text = \"text.embeddings\" }\n";
}

RunResult run(const std::string& toml, const at::Tensor& image) {
  Graph g = build_graph(parse_pipeline_spec(toml, "mem.toml"), catalog());
  Executor ex(g, "cpu");
  return ex.run(Image{image});
}

std::shared_ptr<models::ClipModel> model() {
  static auto m = models::ClipModel::load(clip_test::env().checkpoint);
  return m;
}

const models::ClipTokenizer& tokenizer() {
  static models::ClipTokenizer t(OVSEG_SHARED_DATA "/clip-tokenizer/bpe_simple_vocab_16e6.txt.gz");
  return t;
}

at::Tensor text_embedding(const std::string& prompt) {
  at::NoGradGuard g;
  return l2_normalize(model()->encode_text(tokenizer().tokenize({prompt})))[0];
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

}  // namespace

TEST_CASE("clip_image: tokens enter the last block, features are ln_post@proj of its output") {
  at::manual_seed(0);
  at::Tensor image = at::rand({2, 3, 64, 96});
  RunResult r = run(pipeline("class_names = [\"cat\", \"dog\"]\ntemplates = \"single\"\n"), image);
  const Tokens& tokens = std::get<Tokens>(r.values.at("clip.tokens"));
  const at::Tensor& features = std::get<FeatureMap>(r.values.at("clip.features")).features;
  CHECK(tokens.grid_h == 4);
  CHECK(tokens.grid_w == 6);
  CHECK(tokens.has_cls);
  CHECK(features.sizes() == at::IntArrayRef({2, 32, 4, 6}));

  at::NoGradGuard g;
  at::Tensor x = models::normalize_clip_pixels(image);
  auto fwd = model()->encode_image_tokens(x);
  CHECK(max_abs_diff(tokens.tokens, fwd.penultimate) < 1e-5);
  int64_t gh = 0, gw = 0;
  at::Tensor dense = model()->dense_features(x, &gh, &gw);  // (B, h*w, embed)
  CHECK(max_abs_diff(features.flatten(2).transpose(1, 2), dense) < 1e-5);
  const ModelHandle& handle = std::get<ModelHandle>(r.values.at("clip.model"));
  CHECK(handle.holds<models::ClipModel>());
  CHECK(handle.type_name() == "ovseg::models::ClipModel");
}

TEST_CASE("clip_image: images that are not whole patches are zero-padded after normalisation") {
  at::Tensor image = at::rand({1, 3, 50, 70});
  RunResult r = run(pipeline("class_names = [\"cat\"]\ntemplates = \"single\"\n"), image);
  const at::Tensor& f = std::get<FeatureMap>(r.values.at("clip.features")).features;
  CHECK(f.sizes() == at::IntArrayRef({1, 32, 4, 5}));
  at::NoGradGuard g;
  at::Tensor padded = at::constant_pad_nd(models::normalize_clip_pixels(image), {0, 10, 0, 14}, 0.0);
  CHECK(max_abs_diff(f.flatten(2).transpose(1, 2), model()->dense_features(padded)) < 1e-5);
}

TEST_CASE("clip_text: one template = the normalised text embedding of the prompt") {
  RunResult r = run(pipeline("class_names = [\"cat\", \"traffic light\"]\ntemplates = \"single\"\ncache = false\n"),
                    at::rand({1, 3, 32, 32}));
  const TextEmbeddings& t = std::get<TextEmbeddings>(r.values.at("text.embeddings"));
  REQUIRE(t.embeddings.sizes() == at::IntArrayRef({2, 32}));
  CHECK(t.class_names == std::vector<std::string>({"cat", "traffic light"}));
  CHECK(max_abs_diff(t.embeddings[0], text_embedding("a photo of a cat.")) < 1e-5);
  CHECK(max_abs_diff(t.embeddings[1], text_embedding("a photo of a traffic light.")) < 1e-5);
}

TEST_CASE("clip_text: templates from a file are averaged, then synonyms are averaged") {
  const fs::path tmpl = clip_test::env().dir / "two_templates.txt";
  std::ofstream(tmpl) << "# comment lines are skipped\nitap of a {}.\n{} in the wild\n";
  RunResult r = run(pipeline("class_names = [\"person, man, woman\"]\ntemplates = \"" + tmpl.string() +
                             "\"\ncache = false\n"),
                    at::rand({1, 3, 32, 32}));
  const at::Tensor e = std::get<TextEmbeddings>(r.values.at("text.embeddings")).embeddings[0];
  std::vector<at::Tensor> per_synonym;
  for (const char* s : {"person", "man", "woman"}) {
    at::Tensor m = (text_embedding(std::string("itap of a ") + s + ".") +
                    text_embedding(std::string(s) + " in the wild")) /
                   2;
    per_synonym.push_back(l2_normalize(m, 0));
  }
  at::Tensor expected = l2_normalize(at::stack(per_synonym).mean(0), 0);
  CHECK(max_abs_diff(e, expected) < 1e-5);
  CHECK(std::get<TextEmbeddings>(r.values.at("text.embeddings")).class_names[0] == "person");
}

TEST_CASE("clip_text: synonyms = \"separate\" keeps one query per synonym, named after its class") {
  const fs::path tmpl = clip_test::env().dir / "two_templates_sep.txt";
  std::ofstream(tmpl) << "itap of a {}.\n{} in the wild\n";
  RunResult r = run(pipeline("class_names = [\"person, man, woman\", \"dog\"]\ntemplates = \"" + tmpl.string() +
                             "\"\nsynonyms = \"separate\"\ncache = false\n"),
                    at::rand({1, 3, 32, 32}));
  const TextEmbeddings& t = std::get<TextEmbeddings>(r.values.at("text.embeddings"));
  CHECK(t.class_names == std::vector<std::string>{"person", "person", "person", "dog"});
  REQUIRE(t.embeddings.size(0) == 4);
  const char* words[] = {"person", "man", "woman", "dog"};
  for (int64_t q = 0; q < 4; ++q) {
    CAPTURE(q);
    const std::string w = words[q];
    at::Tensor expected = l2_normalize((text_embedding("itap of a " + w + ".") + text_embedding(w + " in the wild")) /
                                           2,
                                       0);
    CHECK(max_abs_diff(t.embeddings[q], expected) < 1e-5);
  }
  // The graph's logits carry the queries; its default labels are classes.
  CHECK(r.logits.logits.size(1) == 4);
  CHECK(r.labels.class_names == std::vector<std::string>{"person", "dog"});
  CHECK(r.labels.labels.max().item<int64_t>() <= 1);
}

TEST_CASE("clip_text: names_file in SCLIP's format and the imagenet80/best7 sets") {
  RunResult voc = run(pipeline("names_file = \"" OVSEG_SHARED_DATA
                               "/class-names/cls_voc20.txt\"\ntemplates = \"best7\"\n"),
                      at::rand({1, 3, 32, 32}));
  const TextEmbeddings& t = std::get<TextEmbeddings>(voc.values.at("text.embeddings"));
  CHECK(t.embeddings.size(0) == 20);
  CHECK(t.class_names.front() == "aeroplane");
  CHECK(at::allclose(t.embeddings.norm(2, {1}), at::ones({20}), 1e-5, 1e-5));

  RunResult a = run(pipeline("class_names = [\"cat\"]\ntemplates = \"imagenet80\"\ncache = false\n"),
                    at::rand({1, 3, 32, 32}));
  RunResult b = run(pipeline("class_names = [\"cat\"]\ntemplates = \"single\"\ncache = false\n"),
                    at::rand({1, 3, 32, 32}));
  CHECK(max_abs_diff(std::get<TextEmbeddings>(a.values.at("text.embeddings")).embeddings,
                     std::get<TextEmbeddings>(b.values.at("text.embeddings")).embeddings) > 1e-4);
}

TEST_CASE("clip_text: embeddings are cached on disk and reused") {
  clip_test::env();  // sets OVSEG_CACHE_DIR: read the cache root after it (run alone, no earlier case did)
  const fs::path cache = fs::path(models::cache_root()) / "text-embeddings";
  fs::remove_all(cache);
  const std::string toml = pipeline("class_names = [\"zebra\", \"giraffe\"]\ntemplates = \"single\"\n");
  RunResult first = run(toml, at::rand({1, 3, 32, 32}));
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(cache)) files.push_back(e.path());
  REQUIRE(files.size() == 1);
  // Overwrite the cache entry: a second run must read it back instead of recomputing.
  write_npy(files[0].string(), at::full({2, 32}, 0.25f));
  RunResult second = run(toml, at::rand({1, 3, 32, 32}));
  CHECK(std::get<TextEmbeddings>(second.values.at("text.embeddings")).embeddings[1][3].item<float>() ==
        doctest::Approx(0.25));
  // Different names -> a different key, computed afresh.
  run(pipeline("class_names = [\"zebra\"]\ntemplates = \"single\"\n"), at::rand({1, 3, 32, 32}));
  size_t n = 0;
  for (auto it = fs::directory_iterator(cache); it != fs::directory_iterator(); ++it) ++n;
  CHECK(n == 2);
}

TEST_CASE("clip_text: bad inputs name the problem") {
  auto build_and_run = [](const std::string& toml) { run(toml, at::rand({1, 3, 32, 32})); };
  CHECK_THROWS_WITH_AS(build_and_run(pipeline("templates = \"single\"\n")), doctest::Contains("no classes"),
                       std::exception);
  CHECK_THROWS_WITH_AS(build_and_run(pipeline("class_names = [\"cat\"]\ntemplates = \"imagenet81\"\n")),
                       doctest::Contains("imagenet81"), std::exception);
  const fs::path bad = clip_test::env().dir / "bad_templates.txt";
  std::ofstream(bad) << "a photo of a thing.\n";
  CHECK_THROWS_WITH_AS(build_and_run(pipeline("class_names = [\"cat\"]\ntemplates = \"" + bad.string() + "\"\n")),
                       doctest::Contains(":1: template has no {}"), std::exception);
}

TEST_CASE("clip_text: a prompt over 77 tokens is an error naming it, its class and file, unless truncate = true") {
  std::string long_name = "striped";
  for (int i = 0; i < 79; ++i) long_name += " cat";  // 80 words: over 77 tokens in any template
  const fs::path names = clip_test::env().dir / "long_names.txt";
  std::ofstream(names) << "dog\n" << long_name << "\n";
  const std::string params = "names_file = \"" + names.string() + "\"\ntemplates = \"single\"\ncache = false\n";
  try {
    run(pipeline(params), at::rand({1, 3, 32, 32}));
    FAIL("expected an error for a prompt over the context length");
  } catch (const std::exception& e) {
    const std::string msg = e.what();
    INFO(msg);
    CHECK(msg.find("text") != std::string::npos);  // the node
    CHECK(msg.find("is too long for context length 77") != std::string::npos);
    CHECK(msg.find("\"a photo of a striped cat cat") != std::string::npos);  // the prompt
    CHECK(msg.find("class 1 'striped cat cat") != std::string::npos);
    CHECK(msg.find(names.string()) != std::string::npos);
    CHECK(msg.find("truncate = true") != std::string::npos);
  }
  // truncate = true: the embedding of clip.tokenize(prompt, truncate=True).
  RunResult r = run(pipeline(params + "truncate = true\n"), at::rand({1, 3, 32, 32}));
  const TextEmbeddings& t = std::get<TextEmbeddings>(r.values.at("text.embeddings"));
  at::NoGradGuard g;
  const at::Tensor ids = tokenizer().tokenize({"a photo of a " + long_name + "."}, 77, /*truncate=*/true);
  CHECK(max_abs_diff(t.embeddings[1], l2_normalize(model()->encode_text(ids))[0]) < 1e-5);
  CHECK(max_abs_diff(t.embeddings[0], text_embedding("a photo of a dog.")) < 1e-5);
}

TEST_CASE("model zoo: names, paths and clear errors") {
  clip_test::env();
  CHECK(models::find_zoo_entry("openai:ViT-B/16") != nullptr);
  CHECK(models::find_zoo_entry("openai:ViT-B/16")->sha256.size() == 64);
  CHECK(models::resolve_model_file(clip_test::env().checkpoint) == clip_test::env().checkpoint);
  CHECK_THROWS_WITH_AS(models::resolve_model_file("openai:ViT-B/166"),
                       doctest::Contains("did you mean 'openai:ViT-B/16'"), std::runtime_error);
  CHECK_THROWS_WITH_AS(models::resolve_model_file("openai:ViT-L/14"),
                       doctest::Contains("ovseg fetch-model openai:ViT-L/14"), std::runtime_error);
  CHECK(models::model_dir() == (clip_test::env().dir / "models").string());
  // A file copied into the model folder under the zoo's name is found by name.
  fs::create_directories(models::model_dir());
  fs::copy_file(clip_test::env().checkpoint, fs::path(models::model_dir()) / "ViT-B-32.pt",
                fs::copy_options::overwrite_existing);
  CHECK(models::resolve_model_file("openai:ViT-B/32") == (fs::path(models::model_dir()) / "ViT-B-32.pt").string());
  CHECK(models::cached_file_sha256(clip_test::env().checkpoint) ==
        models::cached_file_sha256(clip_test::env().checkpoint));
  // The shared copy is the published vocabulary: its hash is the zoo's.
  CHECK(models::cached_file_sha256(models::resolve_bpe_vocab()) == models::find_zoo_entry("openai:bpe-vocab")->sha256);
  CHECK(models::resolve_bpe_vocab() == OVSEG_SHARED_DATA "/clip-tokenizer/bpe_simple_vocab_16e6.txt.gz");
  CHECK_THROWS_WITH_AS(models::resolve_bpe_vocab("/nope/vocab.gz"), doctest::Contains("/nope/vocab.gz"),
                       std::runtime_error);
}

TEST_CASE("clip_text: per-class synonym overrides replace one class's prompts, keep its name and index") {
  const fs::path file = clip_test::env().dir / "overrides.txt";
  std::ofstream(file) << "# person is weak in CLIP\nperson=man, woman\n";
  RunResult r = run(pipeline("class_names = [\"cat\", \"person\"]\ntemplates = \"single\"\ncache = false\n"
                             "overrides_file = \"" +
                             file.string() + "\"\n"),
                    at::rand({1, 3, 32, 32}));
  const TextEmbeddings& t = std::get<TextEmbeddings>(r.values.at("text.embeddings"));
  CHECK(t.class_names == std::vector<std::string>({"cat", "person"}));
  at::Tensor expected = l2_normalize(
      at::stack({text_embedding("a photo of a man."), text_embedding("a photo of a woman.")}).mean(0), 0);
  CHECK(max_abs_diff(t.embeddings[1], expected) < 1e-5);
  CHECK(max_abs_diff(t.embeddings[0], text_embedding("a photo of a cat.")) < 1e-5);

  // Inline entries win over the file.
  RunResult inline_wins = run(pipeline("class_names = [\"cat\", \"person\"]\ntemplates = \"single\"\ncache = false\n"
                                       "overrides_file = \"" +
                                       file.string() +
                                       "\"\n"
                                       "synonym_overrides = [\"person=pedestrian\"]\n"),
                              at::rand({1, 3, 32, 32}));
  CHECK(max_abs_diff(std::get<TextEmbeddings>(inline_wins.values.at("text.embeddings")).embeddings[1],
                     text_embedding("a photo of a pedestrian.")) < 1e-5);

  auto bad = [](const std::string& entry) {
    run(pipeline("class_names = [\"cat\", \"person\"]\ntemplates = \"single\"\nsynonym_overrides = [\"" + entry +
                 "\"]\n"),
        at::rand({1, 3, 32, 32}));
  };
  CHECK_THROWS_WITH_AS(bad("persn=man"), doctest::Contains("did you mean 'person'"), std::exception);
  CHECK_THROWS_WITH_AS(bad("person"), doctest::Contains("class=syn1, syn2"), std::exception);
}
