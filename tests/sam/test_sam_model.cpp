// The SAM model library: checkpoint layouts against the reference's own
// state_dict(), geometry read off shapes, the loaders (PyTorch zip state
// dicts as the official files, safetensors with metadata, TorchScript),
// error messages, taps, and a random checkpoint in the full ViT-B layout.
#include <ovseg/models/checkpoint_io.hpp>
#include <ovseg/models/random_clip.hpp>
#include <ovseg/models/sam_predictor.hpp>
#include <ovseg/models/sha256.hpp>

#include "../models/models_test_util.hpp"
#include "sam_test_util.hpp"

using namespace ovseg::models;
using sam_test::error_of;

namespace {

// "name:d0,d1,...\n" per tensor, sorted by name (std::map order), as the
// reference's layout digest below was computed.
std::string layout_text(const StateDict& sd) {
  std::string text;
  for (const auto& [name, t] : sd) {
    text += name + ":";
    for (int64_t i = 0; i < t.dim(); ++i) text += (i ? "," : "") + std::to_string(t.size(i));
    text += "\n";
  }
  return text;
}

int64_t numel(const StateDict& sd) {
  int64_t n = 0;
  for (const auto& kv : sd) n += kv.second.numel();
  return n;
}

}  // namespace

TEST_CASE("random checkpoints have exactly the official layouts (segment_anything / MobileSAM state_dict())") {
  // Digests of the sorted "name:shape" lines of build_sam_vit_{b,l,h}() and
  // MobileSAM build_sam_vit_t() state dicts (tensor count, parameter count,
  // sha256), computed once from the reference code: the files the official
  // checkpoints were saved from, as load_state_dict(strict=True) reads them.
  struct Expected {
    const char* preset;
    size_t tensors;
    int64_t numel;
    const char* sha256;
  };
  const Expected expected[] = {
      {"vit_b", 314, 93735728, "98b8c92382771f5bbdf30835ee854c2d8b91186f6e8894f493a17f6627971d21"},
      {"vit_l", 482, 312343088, "3577ef23bc7948df41a8492586a4106b29d531ac91add3b3b0624cca89986638"},
      {"vit_h", 594, 641090864, "08b1ebd3810934577718c815097c0559b2c25b416a764f6ac44d75bb7ea382af"},
      {"mobile_sam", 439, 10140231, "de1ffa6d03cefcc533a31085429577f748709ca5b01434310fe5d6dbd5aff6f0"},
  };
  for (const auto& e : expected) {
    CAPTURE(std::string(e.preset));
    const StateDict sd = make_random_sam_state_dict(sam_geometry_preset(e.preset), 0, /*uninitialized=*/true);
    CHECK(sd.size() == e.tensors);
    CHECK(numel(sd) == e.numel);
    CHECK(sha256_hex(layout_text(sd)) == e.sha256);
    // And the geometry read back off those shapes is the preset's.
    const SamGeometry g = infer_sam_geometry(sd, e.preset);
    const SamGeometry p = sam_geometry_preset(e.preset);
    CHECK(g.describe() == p.describe());
  }
}

TEST_CASE("SAM geometry is read off the tensor shapes") {
  const SamGeometry b = infer_sam_geometry(make_random_sam_state_dict(sam_geometry_preset("vit_b"), 0, true), "b");
  CHECK(b.encoder == SamEncoderType::ViT);
  CHECK(b.vit.width == 768);
  CHECK(b.vit.depth == 12);
  CHECK(b.vit.heads == 12);                                         // 768 / rel_pos head dim 64
  CHECK(b.vit.window == 14);                                        // windowed blocks' rel_pos: 27 rows
  CHECK(b.vit.global_blocks == std::vector<int64_t>{2, 5, 8, 11});  // rel_pos: 127 rows
  CHECK(b.image_size == 1024);                                      // pos_embed 64 x patch 16
  CHECK(b.embedding_grid == 64);
  CHECK(b.embed_dim == 256);
  CHECK(b.decoder_heads == kSamDecoderHeads);
  CHECK(b.decoder_mlp_dim == 2048);
  CHECK(b.num_mask_tokens == 4);
  const SamGeometry h = infer_sam_geometry(make_random_sam_state_dict(sam_geometry_preset("vit_h"), 0, true), "h");
  CHECK(h.vit.global_blocks == std::vector<int64_t>{7, 15, 23, 31});
  CHECK(h.vit.heads == 16);
  const SamGeometry t = infer_sam_geometry(make_random_sam_state_dict(sam_geometry_preset("mobile_sam"), 0, true), "t");
  CHECK(t.encoder == SamEncoderType::TinyViT);
  CHECK(t.tiny_vit.widths == std::vector<int64_t>{64, 128, 160, 320});
  CHECK(t.tiny_vit.depths == std::vector<int64_t>{2, 2, 6, 2});
  CHECK(t.tiny_vit.heads == std::vector<int64_t>{0, 4, 5, 10});
  CHECK(t.tiny_vit.windows == std::vector<int64_t>{0, 7, 14, 7});
  CHECK(t.tiny_vit.stage_resolutions() == std::vector<int64_t>{256, 128, 64, 64});
  CHECK(t.embedding_grid == 64);
}

TEST_CASE("a random checkpoint in the full SAM ViT-B layout loads from a .pth and runs at 1024 px") {
  ovseg_test::TempDir dir;
  const std::string path = dir.file("sam_vit_b_random.pth");
  {
    const StateDict sd = make_random_sam_state_dict(sam_geometry_preset("vit_b"), 7);
    save_state_dict_zip(path, sd);  // the format of sam_vit_b_01ec64.pth (torch.save of a state dict)
  }
  const auto model = SamModel::load(path);
  CHECK(model->geometry().describe() == sam_geometry_preset("vit_b").describe());
  c10::InferenceMode guard;
  SamPredictor predictor(model);
  const at::Tensor image = (at::arange(48 * 64 * 3, at::kLong).view({48, 64, 3}) * 37 % 256).to(at::kByte);
  predictor.set_image(image);
  CHECK(predictor.features().sizes() == at::IntArrayRef{1, 256, 64, 64});
  CHECK(predictor.frame().input_h == 768);
  const auto r = predictor.predict(at::tensor({20.0, 30.0}).view({1, 2}), at::tensor({int64_t(1)}), at::Tensor(),
                                   at::Tensor(), true);
  CHECK(r.masks.sizes() == at::IntArrayRef{3, 48, 64});
  CHECK(r.low_res_logits.sizes() == at::IntArrayRef{3, 256, 256});
  CHECK(r.iou_predictions.sizes() == at::IntArrayRef{3});
  CHECK(at::isfinite(r.masks).all().item<bool>());
  CHECK(r.masks.std().item<double>() > 0);
}

TEST_CASE("SAM checkpoints load the same from a .pth, safetensors and TorchScript; state_dict() round-trips") {
  ovseg_test::TempDir dir;
  const StateDict sd = make_random_sam_state_dict(sam_geometry_preset("vit_test"), 3);
  save_safetensors(dir.file("m.safetensors"), sd);
  save_torchscript_state_dict(dir.file("m.pt"), sd);
  save_state_dict_zip(dir.file("m.pth"), sd);
  const at::Tensor pixels = ovseg_test::test_pixels(1, 256, 256);
  at::Tensor reference;
  for (const char* file : {"m.pth", "m.safetensors", "m.pt"}) {
    CAPTURE(std::string(file));
    const auto m = SamModel::load(dir.file(file));
    const at::Tensor out = m->encode_image(pixels);
    if (!reference.defined()) reference = out;
    CHECK(at::equal(out, reference));
    const StateDict back = m->state_dict();
    REQUIRE(back.size() == sd.size());
    for (const auto& [k, v] : sd) CHECK(at::equal(back.at(k), v));
  }
  // A DDP "module." prefix is accepted.
  StateDict prefixed;
  for (const auto& [k, v] : sd) prefixed["module." + k] = v;
  CHECK(at::equal(SamModel::from_state_dict(prefixed, "ddp")->encode_image(pixels), reference));
}

TEST_CASE("safetensors metadata and SamOptions override what no shape records") {
  ovseg_test::TempDir dir;
  const StateDict sd = make_random_sam_state_dict(sam_geometry_preset("vit_test"), 3);
  save_safetensors(dir.file("heads4.safetensors"), sd, {{"ovseg.sam.decoder_heads", "4"}});
  CHECK(SamModel::load(dir.file("heads4.safetensors"))->geometry().decoder_heads == 4);
  SamOptions o;
  o.decoder_heads = 2;  // explicit options win over metadata
  CHECK(SamModel::load(dir.file("heads4.safetensors"), o)->geometry().decoder_heads == 2);
  save_safetensors(dir.file("bad.safetensors"), sd, {{"ovseg.sam.decoder_heads", "four"}});
  const std::string e = error_of([&] { SamModel::load(dir.file("bad.safetensors")); });
  CHECK(e.find("bad.safetensors") != std::string::npos);
  CHECK(e.find("ovseg.sam.decoder_heads") != std::string::npos);
  o.decoder_heads = 3;  // 32-wide cross attention / 3 heads
  const std::string e3 = error_of([&] { SamModel::from_state_dict(sd, "x.pth", o); });
  CHECK(e3.find("not divisible by 3 heads") != std::string::npos);

  // TinyViT: the image size and merge strides.
  SamOptions t;
  t.tiny_vit_merge_strides = {2, 2};
  const StateDict tiny = make_random_sam_state_dict(sam_geometry_preset("tiny_vit_test"), 1, true);
  const std::string et = error_of([&] { infer_sam_geometry(tiny, "tiny.pt", t); });
  CHECK(et.find("3 patch merges but 2 merge strides") != std::string::npos);
  t.tiny_vit_merge_strides = {};
  t.tiny_vit_image_size = 512;
  CHECK(infer_sam_geometry(tiny, "tiny.pt", t).embedding_grid == 32);
}

TEST_CASE("SAM loader errors name the file and the tensor") {
  StateDict sd = make_random_sam_state_dict(sam_geometry_preset("vit_test"), 3, true);
  {
    StateDict missing = sd;
    missing.erase("mask_decoder.transformer.layers.1.norm3.weight");
    const std::string e = error_of([&] { SamModel::from_state_dict(missing, "/ckpt/sam.pth"); });
    CHECK(e.find("/ckpt/sam.pth") != std::string::npos);
    CHECK(e.find("missing tensor 'mask_decoder.transformer.layers.1.norm3.weight'") != std::string::npos);
  }
  {
    StateDict wrong = sd;
    wrong["prompt_encoder.no_mask_embed.weight"] = at::zeros({2, 64});
    const std::string e = error_of([&] { SamModel::from_state_dict(wrong, "/ckpt/sam.pth"); });
    CHECK(e.find("'prompt_encoder.no_mask_embed.weight' has shape [2, 64], expected [1, 64]") != std::string::npos);
  }
  {
    StateDict window = sd;  // block 0's table implies window 5, block 2's window 6
    window["image_encoder.blocks.0.attn.rel_pos_h"] = at::zeros({9, 32});
    const std::string e = error_of([&] { SamModel::from_state_dict(window, "w.pth"); });
    CHECK(e.find("window") != std::string::npos);
    CHECK(e.find("image_encoder.blocks.2.attn.rel_pos_h") != std::string::npos);
  }
  {
    StateDict gap = sd;
    for (auto it = gap.begin(); it != gap.end();)
      it = it->first.rfind("image_encoder.blocks.1.", 0) == 0 ? gap.erase(it) : std::next(it);
    const std::string e = error_of([&] { SamModel::from_state_dict(gap, "gap.pth"); });
    CHECK(e.find("missing tensors of 'image_encoder.blocks.1'") != std::string::npos);
  }
  const StateDict clip = make_random_clip_state_dict(clip_geometry_preset("tiny"), 0, true);
  const std::string e = error_of([&] { SamModel::from_state_dict(clip, "clip.pt"); });
  CHECK(e.find("'clip.pt': does not look like a SAM checkpoint") != std::string::npos);
  CHECK(error_of([&] { SamModel::load("/nonexistent/sam.pth"); }).find("/nonexistent/sam.pth") != std::string::npos);
}

TEST_CASE("encoder taps return the chosen blocks' outputs as feature maps") {
  const auto& m = *sam_test::vit_test_model().model;
  const at::Tensor pixels = ovseg_test::test_pixels(2, 256, 256);
  std::vector<at::Tensor> taps;
  const at::Tensor emb = m.encode_image(pixels, {3, 0}, &taps);
  REQUIRE(taps.size() == 2);
  CHECK(taps[0].sizes() == at::IntArrayRef{2, 64, 16, 16});
  CHECK(taps[1].sizes() == at::IntArrayRef{2, 64, 16, 16});
  CHECK_FALSE(at::allclose(taps[0], taps[1]));
  CHECK(at::equal(emb, m.encode_image(pixels)));  // tapping changes nothing
  CHECK(error_of([&] { m.encode_image(pixels, {4}); }).find("tap block 4 out of range [0, 4)") != std::string::npos);

  // TinyViT: blocks are numbered across stages (1 MBConv, then 2 + 2 + 1 attention blocks).
  const auto& t = *sam_test::tiny_vit_test_model().model;
  c10::InferenceMode guard;
  std::vector<at::Tensor> tt;
  t.encode_image(at::zeros({1, 3, 1024, 1024}), {0, 1, 3, 5}, &tt);
  CHECK(tt[0].sizes() == at::IntArrayRef{1, 16, 256, 256});
  CHECK(tt[1].sizes() == at::IntArrayRef{1, 32, 128, 128});
  CHECK(tt[2].sizes() == at::IntArrayRef{1, 48, 64, 64});
  CHECK(tt[3].sizes() == at::IntArrayRef{1, 320, 64, 64});
}

TEST_CASE("the encoder block hook sees every block's tokens and can add to or replace them") {
  using ovseg::models::SamBlockHook;
  const auto& m = *sam_test::vit_test_model().model;
  const at::Tensor pixels = ovseg_test::test_pixels(2, 256, 256);
  const at::Tensor plain = m.encode_image(pixels);
  std::vector<at::Tensor> taps;
  m.encode_image(pixels, {0, 2}, &taps);

  // An identity hook is bit-identical to no hook and sees the blocks in order,
  // channels-last, the very tensors the taps report.
  std::vector<int64_t> seen;
  std::vector<at::Tensor> tokens;
  const SamBlockHook record = [&](int64_t block, const at::Tensor& x) {
    seen.push_back(block);
    tokens.push_back(x);
    return x;
  };
  CHECK(at::equal(m.encode_image(pixels, record), plain));
  CHECK(seen == std::vector<int64_t>{0, 1, 2, 3});
  REQUIRE(tokens.size() == 4);
  CHECK(tokens[0].sizes() == at::IntArrayRef{2, 16, 16, 64});
  CHECK(at::equal(tokens[0].permute({0, 3, 1, 2}), taps[0]));
  CHECK(at::equal(tokens[2].permute({0, 3, 1, 2}), taps[1]));

  // Adding zeros changes nothing; adding something after block 1 changes the
  // output but not the blocks before it.
  const SamBlockHook zero = [](int64_t, const at::Tensor& x) { return x + at::zeros_like(x); };
  CHECK(at::equal(m.encode_image(pixels, zero), plain));
  const SamBlockHook bump = [](int64_t b, const at::Tensor& x) { return b == 1 ? x + 0.5 : x; };
  std::vector<at::Tensor> bumped_taps;
  const at::Tensor bumped = m.encode_image(pixels, bump, {0, 1}, &bumped_taps);
  CHECK_FALSE(at::allclose(bumped, plain));
  CHECK(at::equal(bumped_taps[0], taps[0]));                                // blocks before the injection are untouched
  CHECK(at::equal(bumped_taps[1], tokens[1].permute({0, 3, 1, 2}) + 0.5));  // taps record the hook's return

  const SamBlockHook bad = [](int64_t, const at::Tensor& x) { return x.narrow(1, 0, 8); };
  CHECK(error_of([&] {
          m.encode_image(pixels, bad);
        }).find("returned [2, 8, 16, 64] after block 0, expected the tokens' shape [2, 16, 16, 64]") !=
        std::string::npos);

  // TinyViT: the hook sees MBConv and attention blocks alike, channels-last.
  const auto& t = *sam_test::tiny_vit_test_model().model;
  c10::InferenceMode guard;
  const at::Tensor px = at::rand({1, 3, 1024, 1024});
  std::vector<int64_t> widths;
  std::vector<int64_t> blocks;
  const SamBlockHook tiny = [&](int64_t b, const at::Tensor& x) {
    blocks.push_back(b);
    widths.push_back(x.size(3));
    return x;
  };
  CHECK(at::equal(t.encode_image(px, tiny), t.encode_image(px)));
  CHECK(blocks == std::vector<int64_t>{0, 1, 2, 3, 4, 5});
  CHECK(widths.front() == 16);
  CHECK(widths.back() == 320);
}

TEST_CASE("SAM inputs of the wrong shape are refused with the shapes named") {
  const auto& m = *sam_test::vit_test_model().model;
  CHECK(error_of([&] {
          m.encode_image(at::zeros({1, 3, 200, 256}));
        }).find("expected preprocessed pixels (B, 3, 256, 256)") != std::string::npos);
  CHECK(error_of([&] {
          m.encode_prompts(at::zeros({1, 2, 3}), at::ones({1, 2}), {}, {});
        }).find("expected points (B,N,2) and labels (B,N), got [1, 2, 3]") != std::string::npos);
  CHECK(error_of([&] {
          m.encode_prompts({}, {}, {}, at::zeros({1, 1, 32, 32}));
        }).find("expected mask inputs (B,1,64,64)") != std::string::npos);
  SamPredictor p(sam_test::vit_test_model().model);
  CHECK(error_of([&] {
          p.predict(at::zeros({1, 2}), at::ones({1}), {}, {}, true);
        }).find("set an image") != std::string::npos);
}
