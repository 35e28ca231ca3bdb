// Parity with the authors' code, HVision-NKU/MaskCLIPpp (not in this
// repository). The fixtures in data/ hold numbers only: two images (36x44),
// their masks (image 0: a box, scattered pixels, a soft mask, an empty mask;
// image 1: two boxes), text embeddings for 3 classes with 2 / 1 / 2 synonyms
// and 3 templates, mask labels and a segmentor's class logits, and what the
// authors' modules computed for them on the random checkpoint
// random_released_state_dict() writes here in the released layout:
//   - parity_m_embs, parity_areas: CLIPViT's forward (BaseVisualEncoder:
//     normalisation and padding; _extract_features with MASK_PRIOR_BEG 2,
//     bilinear downsampling, DOWN_MASK_THRESH None), the m_embs after ln_post
//     @ proj and the areas;
//   - parity_corrs_linear / _mean: MaskCLIPpp._get_corrs with LinearPSM /
//     DummyPSM (USE_LOGIT_SCALE, logit scale exp = 50);
//   - parity_pred: _get_pred_logits_from_corr (max over synonyms);
//   - parity_sem0 / 1: _semantic_inference of each image;
//   - parity_losses: ReweightCELoss on the training correlations (one synonym
//     per class: text rows 1, 2, 3), (temperature 1, balance_cls, ignore_empty)
//     and (temperature 0.5, neither);
//   - parity_ensemble: _ensemble_logits (open-vocabulary segmentor branch,
//     alpha 0.4, beta 0.7, classes 0 and 2 seen).
// How the fixtures were produced (the script is kept out of the repository
// because it imports the authors' code): test_maskclippp was run with
// OVSEG_MASKCLIPPP_PARITY_DIR=DIR, which keeps the checkpoint as
// DIR/parity.pth. A Python script (Debian's torch 1.13) then loaded the
// authors' files unmodified (maskclippp/maskclippp.py, vencoder/clip_vit.py,
// vencoder/base.py, psm/linear.py, psm/dummy.py, criterion/reweight_ce.py,
// utils/misc.py's downsample_masks) with stand-ins for the detectron2 names
// they import and for open_clip's OpenAI ViT (VisionTransformer and
// ResidualAttentionBlock with QuickGELU, batch_first False), built CLIPViT
// with LOAD_FROM = the checkpoint, loaded {visual_encoder, psm} from its
// "model" dict with strict=True, drew the inputs from torch.manual_seed(23),
// and saved inputs and outputs as .npy.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <unistd.h>

#include "maskclippp_core.hpp"
#include "maskclippp_checkpoint.hpp"
#include "maskclippp_test_util.hpp"
#include "ovseg/models/clip_model.hpp"
#include "ovseg/sdk/npy.hpp"

using namespace maskclippp_test;
namespace fs = std::filesystem;
namespace mc = ovseg::maskclippp;

namespace {

const std::string kData = OVSEG_SOURCE_DIR "/tests/maskclippp/data/";

at::Tensor fixture(const std::string& name) { return ovseg::read_npy(kData + name + ".npy"); }

double rel_diff(const at::Tensor& a, const at::Tensor& ref) {
  REQUIRE(a.sizes() == ref.sizes());
  const double scale = std::max(ref.abs().max().item<double>(), 1e-12);
  return (a.to(at::kDouble) - ref.to(at::kDouble)).abs().max().item<double>() / scale;
}

struct Checkpoint {
  std::string path;
  bool keep = false;
  explicit Checkpoint(const StateDict& sd, const std::string& name) {
    const char* dir = std::getenv("OVSEG_MASKCLIPPP_PARITY_DIR");
    keep = dir && *dir && name == "parity";
    path = keep ? (fs::path(dir) / (name + ".pth")).string()
                : (fs::temp_directory_path() / ("ovseg_mcpp_" + name + "_" + std::to_string(::getpid()) + ".pth"))
                      .string();
    save_released_checkpoint(path, sd);
  }
  ~Checkpoint() {
    std::error_code ec;
    if (!keep) fs::remove(path, ec);
  }
};

struct Loaded {
  std::shared_ptr<ovseg::models::ClipModel> model;
  at::Tensor scale, w_in, b_in, w_out, b_out;
};

// A model of the same geometry but other weights, then the checkpoint over it.
Loaded load(const std::string& path) {
  Loaded l;
  l.model = ovseg::models::ClipModel::from_state_dict(ovseg::models::make_random_clip_state_dict(geometry(), 99),
                                                      "base");
  const auto g = geometry();
  l.scale = at::zeros({g.vision_layers - kMaskPriorBegin + 1, g.vision_heads});
  l.w_in = at::zeros({kCorrWidth, kTemplates}), l.b_in = at::zeros({kCorrWidth});
  l.w_out = at::zeros({1, kCorrWidth}), l.b_out = at::zeros({1});
  mc::ReleasedTensors r{l.model, &l.scale, &l.w_in, &l.b_in, &l.w_out, &l.b_out};
  mc::load_released_checkpoint(path, r);
  return l;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("MaskCLIP++: mask embeddings, PSM scores, merge, loss and ensemble equal the authors' code") {
  Checkpoint ckpt(random_released_state_dict(), "parity");
  REQUIRE_MESSAGE(fs::exists(kData + "parity_m_embs.npy"), "fixtures missing: see the header of this file");
  const Loaded l = load(ckpt.path);

  const at::Tensor image = fixture("parity_image");
  const std::vector<at::Tensor> masks = {fixture("parity_masks0"), fixture("parity_masks1")};
  const at::Tensor text = fixture("parity_text");
  const std::vector<int64_t> synonyms = {2, 1, 2};

  mc::EncodeOptions o;
  o.mask_prior_begin = kMaskPriorBegin;
  const mc::MaskEmbeddings e = mc::encode_masks(*l.model, l.model->vision_positional_embedding,
                                                ovseg::models::normalize_clip_pixels(image), masks, l.scale, o);
  const at::Tensor m_embs = at::cat(e.embeddings, 0);
  CHECK(rel_diff(m_embs, fixture("parity_m_embs")) < 1e-5);
  CHECK(rel_diff(at::cat(e.areas, 0), fixture("parity_areas")) < 1e-6);

  const at::Tensor corrs = mc::correlations(m_embs, text, 50.0);
  const at::Tensor linear = mc::linear_psm(corrs, l.w_in, l.b_in, l.w_out, l.b_out);
  CHECK(rel_diff(linear, fixture("parity_corrs_linear")) < 1e-5);
  CHECK(rel_diff(mc::mean_psm(corrs), fixture("parity_corrs_mean")) < 1e-5);
  const at::Tensor pred = mc::max_over_synonyms(linear, synonyms);
  CHECK(rel_diff(pred, fixture("parity_pred")) < 1e-5);
  CHECK(rel_diff(mc::semantic_merge(pred.narrow(0, 0, 4), masks[0]), fixture("parity_sem0")) < 1e-5);
  CHECK(rel_diff(mc::semantic_merge(pred.narrow(0, 4, 2), masks[1]), fixture("parity_sem1")) < 1e-5);

  const at::Tensor train_text = text.index_select(0, at::tensor({1, 2, 3}, at::kLong));
  const at::Tensor train_scores = mc::linear_psm(mc::correlations(m_embs, train_text, 50.0), l.w_in, l.b_in, l.w_out,
                                                 l.b_out);
  const at::Tensor labels = fixture("parity_labels").to(at::kLong);
  const at::Tensor batch = at::tensor({0, 0, 0, 0, 1, 1}, at::kLong);
  const at::Tensor areas = at::cat(e.areas, 0);
  CHECK(areas[3].item<double>() == 0.0);  // the empty mask: dropped by ignore_empty
  const at::Tensor losses = at::stack({mc::reweighted_ce(train_scores, labels, batch, areas, 1.0, true, true),
                                       mc::reweighted_ce(train_scores, labels, batch, areas, 0.5, false, false)});
  CHECK(rel_diff(losses, fixture("parity_losses")) < 1e-5);

  const at::Tensor seg = fixture("parity_seg_logits");
  const at::Tensor seen = at::tensor({1, 0, 1}, at::kLong).to(at::kBool);
  const at::Tensor ens = at::cat({mc::geometric_ensemble(pred.narrow(0, 0, 4), seg.narrow(0, 0, 4), seen, 0.4, 0.7),
                                  mc::geometric_ensemble(pred.narrow(0, 4, 2), seg.narrow(0, 4, 2), seen, 0.4, 0.7)});
  CHECK(rel_diff(ens, fixture("parity_ensemble")) < 1e-5);
  MESSAGE("max relative differences: m_embs " << rel_diff(m_embs, fixture("parity_m_embs")) << ", linear PSM "
                                              << rel_diff(linear, fixture("parity_corrs_linear")) << ", losses "
                                              << rel_diff(losses, fixture("parity_losses")));
}

TEST_CASE("MaskCLIP++ checkpoint: the released layout loads; wrong towers, keys and shapes are clear errors") {
  const StateDict good = random_released_state_dict(11, /*with_text=*/true);
  {
    Checkpoint ck(good, "text");
    const Loaded l = load(ck.path);
    // The visual tower, the text tower and the extra tensors all came from the file.
    const auto sd = l.model->state_dict();
    CHECK(at::equal(sd.at("visual.transformer.resblocks.1.attn.in_proj_weight"),
                    good.at("visual_encoder.proxy.transformer.resblocks.1.attn.in_proj_weight")));
    CHECK(at::equal(sd.at("token_embedding.weight"), good.at("text_encoder.token_embedding.weight")));
    CHECK(at::equal(l.scale, good.at("visual_encoder.mask_logit_scale")));
    CHECK(at::equal(l.w_out, good.at("psm.corr_proj_out.0.weight")));
  }
  auto fails = [&](StateDict sd, const std::string& name) {
    Checkpoint ck(sd, name);
    return error_of([&] { load(ck.path); });
  };
  StateDict eva = good;
  eva["visual_encoder.proxy.blocks.0.attn.q_proj.weight"] = at::zeros({4, 4});
  CHECK(fails(eva, "eva").find("EVA-CLIP") != std::string::npos);
  StateDict missing = good;
  missing.erase("visual_encoder.proxy.ln_post.weight");
  const std::string m = fails(missing, "missing");
  CHECK(m.find("visual_encoder.proxy.ln_post.weight") != std::string::npos);
  CHECK(m.find("ovseg_mcpp_missing") != std::string::npos);  // names the file
  StateDict shape = good;
  shape["psm.corr_proj_in.0.weight"] = at::zeros({kCorrWidth, kTemplates + 1});
  CHECK(fails(shape, "shape").find("psm.corr_proj_in.0.weight") != std::string::npos);
  StateDict extra = good;
  extra["psm.extra.weight"] = at::zeros({2});
  CHECK(fails(extra, "extra").find("unexpected tensor 'psm.extra.weight'") != std::string::npos);
}
