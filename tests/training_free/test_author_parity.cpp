// Parity with the authors' own Python code. The fixtures in data/parity_*.npy
// hold numbers only: images, 5 class embeddings, and the logits (and labels)
// that the authors' released code, run once under Debian's torch 1.13 on the
// checkpoints rebuilt below, computed for them:
//   - SCLIP: wangf3014/SCLIP clip/model.py (CSA, and its vanilla path);
//   - NACLIP: sinahmr/NACLIP clip/model.py, set_params(arch, attn_strategy,
//     gaussian_std);
//   - ClearCLIP: mc-lan/ClearCLIP open_clip/transformer.py,
//     VisionTransformer.forward(x, model_type, ignore_residual) with model
//     types 'ClearCLIP', 'MaskCLIP' (its MaskCLIP re-statement, which
//     DESIGN.md's MaskCLIP is), 'SCLIP' and 'vanilla';
//   - CLIPtrase: leaves162/CLIPtrase clip_utils/model.py + attn2.py and the
//     unmodified loop of clip_self_correlation.py self_clip() (DBSCAN,
//     median filter, vote; the 'VOC20' branch for the CLS-logit weighting),
//     with its file and dataset helpers replaced by ones handing it the
//     fixture image and text embeddings.
// The checkpoints are make_random_clip_state_dict(geometry, seed 2024) with
// every weight rounded to fp16 as OpenAI ships them (SCLIP's build_model
// rounds every weight to fp16, so a checkpoint that is not fp16-exact differs
// by that rounding alone). To regenerate a fixture, run this test with
// OVSEG_PARITY_CHECKPOINT_DIR=DIR: the checkpoints are then written to
// DIR/parity_<name>.pth and kept, for the authors' code to load.
#include <unistd.h>  // getpid: LibTorch 2.x headers no longer bring it
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "ovseg/host/executor.hpp"
#include "ovseg/host/graph.hpp"
#include "ovseg/host/inference.hpp"
#include "ovseg/models/checkpoint_io.hpp"
#include "ovseg/models/random_clip.hpp"
#include "ovseg/sdk/npy.hpp"
#include "tf_test_util.hpp"

namespace {

namespace fs = std::filesystem;
const std::string kData = OVSEG_SOURCE_DIR "/tests/training_free/data/";

// Written once per test process; removed at exit unless
// OVSEG_PARITY_CHECKPOINT_DIR asks to keep it.
struct ParityCheckpoint {
  std::string path;
  double logit_scale = 0;  // exp(logit_scale) of the fp16-rounded checkpoint
  bool keep = false;
  ParityCheckpoint(const std::string& name, const ovseg::models::ClipGeometry& g) {
    auto sd = ovseg::models::make_random_clip_state_dict(g, 2024);
    for (auto& [k, v] : sd)
      if (v.is_floating_point()) v = v.to(at::kHalf).to(at::kFloat);
    logit_scale = std::exp(sd.at("logit_scale").item<double>());
    const char* dir = std::getenv("OVSEG_PARITY_CHECKPOINT_DIR");
    keep = dir && *dir;
    path = keep ? (fs::path(dir) / ("parity_" + name + ".pth")).string()
                : (fs::temp_directory_path() / ("ovseg_parity_" + name + "_" + std::to_string(::getpid()) + ".pth"))
                      .string();
    ovseg::models::save_state_dict_zip(path, sd);
  }
  ~ParityCheckpoint() {
    std::error_code ec;
    if (!keep) fs::remove(path, ec);
  }
};

// 'tiny' (16 px patches) with its vision tower widened to 128 (2 heads).
ovseg::models::ClipGeometry wide_tiny(int64_t vision_layers, int64_t image_resolution) {
  ovseg::models::ClipGeometry g = ovseg::models::clip_geometry_preset("tiny");
  g.vision_width = 128;
  g.vision_heads = 2;
  g.vision_layers = vision_layers;
  g.image_resolution = image_resolution;
  return g;
}

// 3 vision blocks, 64 px: SCLIP, NACLIP, ClearCLIP.
const ParityCheckpoint& vit3() {
  static const ParityCheckpoint checkpoint("vit3", wide_tiny(3, 64));
  return checkpoint;
}

// CLIPtrase's code hard-codes blocks 11 and 12 and 16 px patches: 12 vision
// blocks, 128 px (an 8x8 grid).
const ParityCheckpoint& vit12() {
  static const ParityCheckpoint checkpoint("vit12", wide_tiny(12, 128));
  return checkpoint;
}

std::string clip_and_classes(const std::string& checkpoint, const std::string& text = "parity_text.npy") {
  return "[nodes.clip]\nplugin = \"clip_image\"\ninputs = { image = \"input.image\" }\nmodel = \"" + checkpoint +
         "\"\n[nodes.classes]\nplugin = \"class_embeddings\"\nclass_names = [\"a\", \"b\", \"c\", \"d\", \"e\"]\n"
         "file = \"" +
         kData + text + "\"\n";
}

ovseg::RunResult run_pipeline(const std::string& toml, const at::Tensor& image) {
  ovseg::Graph g = ovseg::build_graph(ovseg::parse_pipeline_spec(toml, "parity.toml"), tf_test::catalog());
  ovseg::Executor ex(g, "cpu");
  return ex.run(ovseg::Image{image});
}

at::Tensor pipeline_logits(const std::string& refinement, const std::string& refinement_params) {
  const std::string toml = clip_and_classes(vit3().path) + "[nodes.refine]\nplugin = \"" + refinement +
                           "\"\ninputs = { tokens = \"clip.tokens\", model = \"clip.model\" }\n" + refinement_params +
                           "[nodes.logits]\nplugin = \"cosine_logits\"\ninputs = { features = \"refine.features\", "
                           "text = \"classes.embeddings\" }\n"
                           "logit_scale = 40.0\n";
  return run_pipeline(toml, ovseg::read_npy(kData + "parity_image.npy")).logits.logits;
}

void check_close(const at::Tensor& ours, const at::Tensor& theirs, const std::string& what) {
  REQUIRE(ours.sizes() == theirs.sizes());
  const double rel = (ours - theirs).abs().max().item<double>() / theirs.abs().max().item<double>();
  std::string label = what;
  std::replace(label.begin(), label.end(), '\n', ' ');
  while (!label.empty() && label.back() == ' ') label.pop_back();
  MESSAGE(label << " vs the authors' code: max |diff| / max |logit| = " << rel);
  // Measured 2.6e-7 .. 4.9e-7 (README "Exactness"); 2e-6 leaves a 4x margin
  // for other BLAS builds while catching any real formula change.
  CHECK(rel < 2e-6);
  CHECK(at::equal(ours.argmax(1), theirs.argmax(1)));
}

void check_parity(const std::string& refinement, const std::string& fixture, const std::string& params = "") {
  check_close(pipeline_logits(refinement, params), ovseg::read_npy(kData + fixture), refinement + " " + params);
}

}  // namespace

TEST_CASE("parity with SCLIP's released code: sclip (CSA) and vanilla_block") {
  check_parity("sclip", "parity_sclip_logits.npy");
  check_parity("vanilla_block", "parity_vanilla_logits.npy");
}

TEST_CASE("parity with NACLIP's released code: naclip (k-k + Gaussian prior, reduced) and k-k alone") {
  check_parity("naclip", "parity_naclip_logits.npy");  // arch 'reduced', 'naclip', std 5
  check_parity("last_block", "parity_naclip_kk_only_logits.npy",
               "attention = \"kk\"\nresidual = false\nffn = false\n");  // 'reduced', 'kk'
}

TEST_CASE("parity with ClearCLIP's released code: clearclip, maskclip and its residual/FFN ablation") {
  check_parity("clearclip", "parity_clearclip_logits.npy");  // 'ClearCLIP', ignore_residual=True
  check_parity("maskclip", "parity_maskclip_logits.npy");    // 'MaskCLIP', ignore_residual=True
  // ignore_residual=False keeps the residual and the FFN: ClearCLIP's
  // ablation (q-q with both kept), and SCLIP's CSA through ClearCLIP's code.
  check_parity("last_block", "parity_clearclip_qq_residual_ffn_logits.npy",
               "attention = \"qq\"\nresidual = true\nffn = true\n");
  check_parity("sclip", "parity_clearclip_sclip_logits.npy");
}

namespace {

// CLIPtrase end to end on the 12-block checkpoint: qq+kk+vv last block,
// block-11 correlation, DBSCAN (eps 0.5: three clusters on this image, no
// pairwise distance within 0.02 of eps), median-filtered cluster maps and the
// vote; with `voc20` the resized logits are first weighted by the CLS
// token's logits, as self_clip() does on VOC20.
ovseg::RunResult cliptrase_run(bool voc20, int min_samples, const std::string& text = "parity_text.npy") {
  const std::string scale = std::to_string(vit12().logit_scale);
  std::string toml =
      clip_and_classes(vit12().path, text) +
      "[nodes.refine]\nplugin = \"cliptrase\"\ninputs = { tokens = \"clip.tokens\", model = \"clip.model\" }\n"
      "[nodes.correlation]\nplugin = \"cliptrase_correlation\"\n"
      "inputs = { tokens = \"clip.prev_tokens\", model = \"clip.model\" }\n"
      "[nodes.logits]\nplugin = \"cosine_logits\"\n"
      "inputs = { features = \"refine.features\", text = \"classes.embeddings\" }\nlogit_scale = " +
      scale +
      "\n"
      "[nodes.upsample]\nplugin = \"resize_logits\"\ninputs = { logits = \"logits.logits\", image = \"input.image\" "
      "}\n";
  std::string voted = "upsample.logits";
  if (voc20) {
    toml +=
        "[nodes.cls_logits]\nplugin = \"cosine_logits\"\n"
        "inputs = { features = \"refine.cls\", text = \"classes.embeddings\" }\nlogit_scale = " +
        scale +
        "\n"
        "[nodes.weighted]\nplugin = \"class_weighting\"\n"
        "inputs = { logits = \"upsample.logits\", weights = \"cls_logits.logits\" }\n";
    voted = "weighted.logits";
  }
  toml +=
      "[nodes.vote]\nplugin = \"cliptrase_cluster_vote\"\n"
      "inputs = { logits = \"" +
      voted +
      "\", correlation = \"correlation.correlation\" }\n"
      "eps = 0.5\nmin_samples = " +
      std::to_string(min_samples) +
      "\n"
      "[nodes.labels]\nplugin = \"argmax\"\ninputs = { logits = \"vote.logits\" }\n"
      "[outputs]\nlogits = \"vote.logits\"\nlabels = \"labels.labels\"\n";
  at::Tensor image = ovseg::read_npy(kData + "parity_cliptrase_image.npy").to(at::kFloat) / 255.0;
  return run_pipeline(toml, image);
}

// Our labels against the authors' (stored as uint8); returns theirs.
at::Tensor check_labels(const ovseg::RunResult& r, const std::string& fixture) {
  const at::Tensor theirs = ovseg::read_npy(kData + fixture).to(at::kLong);
  const at::Tensor ours = r.labels.labels;
  REQUIRE(ours.sizes() == theirs.sizes());
  const double mismatch = ours.ne(theirs).to(at::kDouble).mean().item<double>();
  MESSAGE(fixture << ": fraction of labels differing from the authors' = " << mismatch);
  CHECK(mismatch == 0.0);
  return theirs;
}

at::Tensor argmax_of(const ovseg::RunResult& r, const std::string& value) {
  return std::get<ovseg::Logits>(r.values.at(value)).logits.argmax(1);
}

}  // namespace

TEST_CASE("parity with CLIPtrase's released code: last block, correlation clustering, vote, VOC20 CLS weighting") {
  const ovseg::RunResult plain = cliptrase_run(false, 3);
  check_close(std::get<ovseg::Logits>(plain.values.at("logits.logits")).logits,
              ovseg::read_npy(kData + "parity_cliptrase_logits.npy"), "cliptrase");
  const at::Tensor voted = check_labels(plain, "parity_cliptrase_labels.npy");
  CHECK(argmax_of(plain, "upsample.logits").ne(voted).any().item<bool>());  // the vote moved pixels

  const ovseg::RunResult voc20 = cliptrase_run(true, 3);
  check_close(std::get<ovseg::Logits>(voc20.values.at("cls_logits.logits")).logits,
              ovseg::read_npy(kData + "parity_cliptrase_cls_logits.npy"), "cliptrase CLS token");

  // On parity_text.npy the weighting changes no voted label, so its labels
  // cannot tell a missing weighting (that fixture was dropped). These 5 class
  // embeddings (parity_cliptrase_voc20w_text.npy: torch.randn(5, 32) from
  // torch.Generator().manual_seed(4), rows normalised; seed 4 is the first
  // where the authors' VOC20 and plain labels differ on 20-80% of the pixels)
  // make the VOC20 branch of self_clip() relabel whole clusters (58.6% of
  // the pixels). Both label maps come from the authors' loop on this image
  // and checkpoint; without the weighting ours equal the unweighted ones, not
  // the weighted fixture (checked below), so the comparison fails.
  const std::string text_w = "parity_cliptrase_voc20w_text.npy";
  const at::Tensor weighted_theirs = check_labels(cliptrase_run(true, 3, text_w), "parity_cliptrase_voc20w_labels.npy");
  const ovseg::RunResult unweighted = cliptrase_run(false, 3, text_w);
  check_labels(unweighted, "parity_cliptrase_voc20w_unweighted_labels.npy");
  const double moved = unweighted.labels.labels.ne(weighted_theirs).to(at::kDouble).mean().item<double>();
  MESSAGE("the CLS weighting changes " << moved << " of the voted labels on " << text_w);
  CHECK(moved > 0.1);

  // min_samples 65 > 64 patches: no cluster, so the labels are the weighted
  // argmax itself, which the CLS weighting visibly changes.
  const ovseg::RunResult unclustered = cliptrase_run(true, 65);
  const at::Tensor weighted = check_labels(unclustered, "parity_cliptrase_voc20_unclustered_labels.npy");
  CHECK(argmax_of(unclustered, "upsample.logits").ne(weighted).any().item<bool>());
}

// Synonym queries (clip_text synonyms = "separate": repeated class names),
// scored as SCLIP's postprocess_result does with query_idx: softmax over all
// queries, each class's max, area_thd, prob_thd. Fixture: random window
// logits (7 queries of 4 classes: background x3, a, b x2, c) and the labels
// the authors' postprocess_result gave for them at logit scale 50.
TEST_CASE("parity with SCLIP's postprocess_result on synonym queries: argmax, prob_thd, area_thd") {
  const at::Tensor logits = ovseg::read_npy(kData + "parity_synonyms_raw_logits.npy") * 50.0f;
  const std::vector<std::string> queries = {"background", "background", "background", "a", "b", "b", "c"};
  auto theirs = [](const std::string& name) {
    return ovseg::read_npy(kData + "parity_synonyms_" + name + "_labels.npy").to(at::kLong);
  };
  // The harness's background handling.
  CHECK(ovseg::background_labels(logits[0], 0.4, 0.0, queries).equal(theirs("prob")[0]));
  CHECK(ovseg::background_labels(logits[0], 0.4, 0.25, queries).equal(theirs("prob_area")[0]));
  // The argmax plugin (plain argmax; the threshold is the protocol's, one
  // place: the harness's final labelling, labels_at_size).
  auto stage = tf_test::make_stage("argmax", {});
  ovseg::MapStageContext ctx;
  ctx.inputs["logits"] = ovseg::Logits{logits, queries};
  stage->run(ctx);
  const auto& out = std::get<ovseg::LabelMap>(ctx.outputs.at("labels"));
  CHECK(out.labels.equal(theirs("argmax")));
  CHECK(out.class_names == std::vector<std::string>{"background", "a", "b", "c"});
  const int64_t h = logits.size(2), w = logits.size(3);
  CHECK(ovseg::labels_at_size(logits, queries, h, w).equal(theirs("argmax")[0]));
  CHECK(ovseg::labels_at_size(logits, queries, h, w, 0.4).equal(theirs("prob")[0]));
  CHECK(ovseg::labels_at_size(logits, queries, h, w, 0.4, 0.25).equal(theirs("prob_area")[0]));
  // Not trivial: the threshold, the area rule and the synonym max all matter.
  CHECK_FALSE(theirs("prob").equal(theirs("argmax")));
  CHECK_FALSE(theirs("prob_area").equal(theirs("prob")));
  CHECK_FALSE(ovseg::background_labels(logits[0], 0.4, 0.0).equal(theirs("prob")[0]));  // queries as classes
}
