// `ovseg encode --model M (--image IMG [--dense] | --text TEXT) --out F.npy`:
// CLIP embeddings written as NumPy arrays, for parity checks.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer brings it in LibTorch 2.x

#include <iostream>

#include "commands.hpp"
#include "ovseg/host/device.hpp"
#include "ovseg/host/image_io.hpp"
#include "ovseg/models/clip_model.hpp"
#include "ovseg/models/clip_tokenizer.hpp"
#include "ovseg/models/model_zoo.hpp"
#include "ovseg/sdk/npy.hpp"
#include "ovseg/sdk/stage.hpp"

namespace ovseg::cli {

namespace {

// clip.load()'s preprocessing: bicubic (antialiased) resize of the short side
// to the model resolution, centre crop, normalisation.
at::Tensor clip_preprocess(const at::Tensor& rgb01, int64_t resolution) {
  const int64_t h = rgb01.size(2), w = rgb01.size(3);
  const double scale = static_cast<double>(resolution) / std::min(h, w);
  const int64_t nh = std::max<int64_t>(resolution, std::lround(h * scale));
  const int64_t nw = std::max<int64_t>(resolution, std::lround(w * scale));
  at::Tensor x = at::_upsample_bicubic2d_aa(rgb01, {nh, nw}, false);
  const int64_t top = (nh - resolution) / 2, left = (nw - resolution) / 2;
  x = x.narrow(2, top, resolution).narrow(3, left, resolution).clamp(0, 1);
  return models::normalize_clip_pixels(x);
}

int run_encode(const ParsedArgs& args) {
  if (!args.has("--model")) throw UsageError("ovseg encode: --model M is required");
  if (!args.has("--out")) throw UsageError("ovseg encode: --out F.npy is required");
  if (args.has("--image") == args.has("--text"))
    throw UsageError("ovseg encode: give exactly one of --image IMG or --text TEXT");
  const at::Device device = parse_device(args.get("--device", default_device()));
  auto model = models::ClipModel::load(models::resolve_model_file(args.get("--model")));
  model->to(device);
  at::NoGradGuard no_grad;
  at::Tensor out;
  if (args.has("--image")) {
    at::Tensor x = clip_preprocess(load_image(args.get("--image")), model->geometry().image_resolution).to(device);
    out = args.has("--dense") ? model->dense_features(x)[0] : model->encode_image(x);
  } else {
    if (args.has("--dense")) throw UsageError("ovseg encode: --dense applies to --image only");
    models::ClipTokenizer tok(models::resolve_bpe_vocab(args.get("--bpe-vocab")));
    out = model->encode_text(tok.tokenize({args.get("--text")}, model->geometry().context_length).to(device));
  }
  write_npy(args.get("--out"), out.to(at::kCPU, at::kFloat).contiguous());
  std::cout << "wrote " << args.get("--out") << " " << ovseg::shape_string(out) << " float32 ("
            << model->geometry().describe() << ")\n";
  return 0;
}

}  // namespace

Command encode_command() {
  CommandSpec spec;
  spec.name = "encode";
  spec.summary = "write a CLIP image or text embedding as .npy (parity checks)";
  spec.usage = "--model M (--image IMG [--dense] | --text TEXT) --out F.npy";
  spec.options = {{"--model", "M", "zoo name or checkpoint file", false},
                  {"--image", "IMG", "image to embed (clip.load preprocessing: resize, centre crop)", false},
                  {"--dense", "", "write patch features (N,C) after ln_post and proj instead", false},
                  {"--text", "TEXT", "text to embed (one prompt)", false},
                  {"--out", "F.npy", "output file", false},
                  {"--bpe-vocab", "FILE", "tokenizer vocabulary for --text", false},
                  {"--device", "DEV", "cpu, cuda or cuda:N (default: cuda when a GPU is visible, else cpu)", false}};
  spec.details =
      "Image: (1,embed) = ln_post(CLS) @ proj; --dense: (h*w,embed) = ln_post(patches) @ proj.\n"
      "Text: (1,embed) at the EOT token after text_projection. Embeddings are not normalised.";
  return {spec, run_encode};
}

}  // namespace ovseg::cli
