// ovseg tokenize / encode / make-random-clip / models / fetch-model, run as a
// user would, checked against the library called directly.
#include <doctest/doctest.h>

#include <array>
#include <cstdio>
#include <sstream>

#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer brings it in LibTorch 2.x

#include "clip_test_env.hpp"
#include "ovseg/models/checkpoint_io.hpp"
#include "ovseg/models/clip_checkpoint.hpp"
#include "ovseg/models/clip_tokenizer.hpp"
#include "ovseg/sdk/npy.hpp"
#include "ovseg/sdk/stage.hpp"

namespace fs = std::filesystem;

namespace {

struct Output {
  int code;
  std::string text;  // stdout + stderr
};

Output cli(const std::string& args) {
  clip_test::env();
  const std::string cmd = std::string(OVSEG_CLI) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  std::array<char, 4096> buf{};
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  int status = pclose(p);
  return {WEXITSTATUS(status), out};
}

std::string tmp(const std::string& name) { return (clip_test::env().dir / name).string(); }

}  // namespace

TEST_CASE("ovseg tokenize prints the tokenizer's ids, one line per text") {
  ovseg::models::ClipTokenizer tok(OVSEG_SHARED_DATA "/clip-tokenizer/bpe_simple_vocab_16e6.txt.gz");
  Output o = cli("tokenize \"a photo of a cat.\" \"Don't panic!\"");
  REQUIRE(o.code == 0);
  std::ostringstream expected;
  for (const char* text : {"a photo of a cat.", "Don't panic!"}) {
    auto ids = tok.encode(text);
    for (size_t i = 0; i < ids.size(); ++i) expected << (i ? " " : "") << ids[i];
    expected << "\n";
  }
  CHECK(o.text == expected.str());
  Output ctx = cli("tokenize \"a cat\" --context 6");
  CHECK(ctx.text == "49406 320 2368 49407 0 0\n");
}

TEST_CASE("ovseg tokenize --context: a longer text is an error naming it, unless --truncate") {
  Output over = cli("tokenize \"a photo of a cat.\" --context 5");
  CHECK(over.code != 0);
  CHECK(over.text.find("\"a photo of a cat.\" is too long for context length 5") != std::string::npos);
  CHECK(over.text.find("--truncate") != std::string::npos);
  // clip.tokenize(["a photo of a cat."], context_length=5, truncate=True)
  Output cut = cli("tokenize \"a photo of a cat.\" --context 5 --truncate");
  CHECK(cut.code == 0);
  CHECK(cut.text == "49406 320 1125 539 49407\n");
  CHECK(cli("tokenize \"a cat\" --truncate").code != 0);  // --truncate without --context
}

TEST_CASE("ovseg make-random-clip writes every layout, and they load to the same model") {
  for (const char* name : {"r.pt", "r.safetensors", "r.pth"}) {
    Output o = cli("make-random-clip --preset tiny --seed 3 --out " + tmp(name));
    REQUIRE_MESSAGE(o.code == 0, o.text);
  }
  Output hf = cli("make-random-clip --preset tiny --seed 3 --layout hf --out " + tmp("r_hf.safetensors"));
  REQUIRE(hf.code == 0);
  auto a = ovseg::models::load_clip_state_dict(tmp("r.pt"));
  for (const char* other : {"r.safetensors", "r.pth", "r_hf.safetensors"}) {
    auto b = ovseg::models::load_clip_state_dict(tmp(other));
    CHECK_MESSAGE(b.size() == a.size(), other);
    for (const auto& [k, v] : a) {
      REQUIRE_MESSAGE(b.count(k), other << " lacks " << k);
      CHECK_MESSAGE(at::equal(v, b.at(k)), other << ": " << k);
    }
  }
  CHECK(cli("make-random-clip --out " + tmp("x.onnx")).code == 2);
}

TEST_CASE("ovseg encode writes image, dense and text embeddings") {
  REQUIRE(cli("make-random-clip --preset tiny --out " + tmp("enc.pt")).code == 0);
  auto model = ovseg::models::ClipModel::load(tmp("enc.pt"));
  const std::string image = std::string(OVSEG_SOURCE_DIR) + "/pipelines/examples/beach.png";

  Output o = cli("encode --model " + tmp("enc.pt") + " --image " + image + " --out " + tmp("img.npy"));
  REQUIRE_MESSAGE(o.code == 0, o.text);
  CHECK(ovseg::read_npy(tmp("img.npy")).sizes() == at::IntArrayRef({1, 32}));
  REQUIRE(cli("encode --model " + tmp("enc.pt") + " --image " + image + " --dense --out " + tmp("dense.npy")).code ==
          0);
  CHECK(ovseg::read_npy(tmp("dense.npy")).sizes() == at::IntArrayRef({16, 32}));  // 64 px / patch 16 = 4x4

  REQUIRE(cli("encode --model " + tmp("enc.pt") + " --text \"a photo of a cat.\" --out " + tmp("txt.npy")).code == 0);
  ovseg::models::ClipTokenizer tok(OVSEG_SHARED_DATA "/clip-tokenizer/bpe_simple_vocab_16e6.txt.gz");
  at::NoGradGuard g;
  at::Tensor expected = model->encode_text(tok.tokenize({"a photo of a cat."}));
  CHECK((ovseg::read_npy(tmp("txt.npy")) - expected).abs().max().item<double>() < 1e-5);

  CHECK(cli("encode --model " + tmp("enc.pt") + " --out " + tmp("none.npy")).code == 2);
  CHECK(cli("encode --model " + tmp("enc.pt") + " --text hi --dense --out " + tmp("none.npy")).code == 2);
  Output missing = cli("encode --model /nope/model.pt --text hi --out " + tmp("none.npy"));
  CHECK(missing.code == 1);
  CHECK(missing.text.find("/nope/model.pt") != std::string::npos);
}

TEST_CASE("ovseg models lists the zoo; fetch-model rejects unknown names without touching the network") {
  Output o = cli("models");
  REQUIRE(o.code == 0);
  CHECK(o.text.find("openai:ViT-B/16") != std::string::npos);
  CHECK(o.text.find("missing") != std::string::npos);
  Output bad = cli("fetch-model openai:ViT-B/17");
  CHECK(bad.code == 1);
  CHECK(bad.text.find("did you mean 'openai:ViT-B/16'") != std::string::npos);
}
