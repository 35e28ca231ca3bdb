// Runs a pipeline graph on one data-set image under the harness protocol:
// resize, sliding windows as one batch, stitching, per-image refinement, and
// labels at the ground truth's size. (`ovseg eval` fills window batches with
// several images' windows through the same pieces: window_batcher.hpp.)
//
// The graph is split at its [outputs] logits port:
//   window phase  every node that port depends on; runs on the batch of all
//                 window crops (B,3,win,win) (once on the whole image in
//                 "whole" mode) and must give logits at crop resolution
//                 (pipelines add resize_logits with image = input.image);
//   stitching     crop logits summed into a (1,K,H,W) canvas and divided by
//                 the per-pixel window count (slide_inference's count_mat);
//   image phase   every other node (pamr, argmax...) runs once on the whole
//                 resized image with the stitched logits injected as that
//                 port's value. Image-independent values of the window phase
//                 (e.g. text embeddings) are handed over; image-dependent ones
//                 cannot be and are rejected when the runner is built.
// Finally the logits are resized bilinearly (align_corners=false) to the
// label size and argmax'd, unless the graph has a labels output, whose
// LabelMap is resized nearest. With background knobs (prob_thd, area_thd)
// the harness takes the argmax itself (background_labels) on the final
// logits: the stitched ones, or those an `argmax` labels node reads.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <opencv2/core/mat.hpp>

#include "ovseg/host/executor.hpp"
#include "ovseg/host/graph.hpp"
#include "ovseg/host/ground_truth.hpp"
#include "ovseg/host/protocol.hpp"

namespace ovseg {

struct Prediction {
  at::Tensor labels;                     // (label_h, label_w) int64, CPU
  at::Tensor logits;                     // the [outputs] logits, stitched: (1,K,resized_h,resized_w); undefined
                                         // when labelled by class tiles (ProtocolRunner::keep_logits)
  std::vector<std::string> logit_names;  // their query names (synonyms repeat a name)
  std::vector<NodeTiming> timings;       // per node, summed over both phases
  std::vector<std::string> class_names;  // of the pipeline's logits
  int num_windows = 0;
  int resized_h = 0, resized_w = 0;
};

// A data-set image (CV_8UC3 BGR, as OpenCV and mmseg load it) resized as
// mmseg's Resize does (cv2 bilinear on the 8-bit image, size from
// rescale_size) and turned into (1,3,h,w) float32 RGB in [0,1].
at::Tensor preprocess_image(const cv::Mat& bgr, const Protocol& protocol);

// Sum of crop logits (N,K,h,w) placed at `windows`, divided by the number of
// windows covering each pixel: (1,K,height,width).
at::Tensor stitch_windows(const at::Tensor& window_logits, const std::vector<Window>& windows, int height, int width);
// How many windows cover each pixel: (height,width) float32.
at::Tensor window_count_map(const std::vector<Window>& windows, int height, int width, at::Device device = at::kCPU);
// Whether every value is finite (no NaN, no inf).
bool all_finite(const at::Tensor& t);

// SCLIP's postprocess_result on logits (K,H,W) (logit scale included):
// softmax over classes; classes 1.. whose argmax area is <= area_thd x the
// area of all classes 1.. get probability 0; argmax; pixels whose top
// probability is < prob_thd -> 0. Returns (H,W) int64. With `class_names`
// naming synonym queries (repeated names, see ovseg/sdk/synonyms.hpp) a
// class's probability is the max over its queries, as SCLIP's query_idx.
at::Tensor background_labels(const at::Tensor& logits, double prob_thd, double area_thd,
                             const std::vector<std::string>& class_names = {});

// Bilinear resize (align_corners=false, as the harness resizes logits to the
// label size) of logits (1,K,h,w) to (1,K,height,width), handed to `visit`
// as consecutive strips of output rows (y0, (1,K,rows,width)) of at most
// about `max_bytes` each. When the whole output fits, it is one strip and
// exactly at::upsample_bilinear2d; otherwise the vertical pass runs once on
// the whole (1,K,height,w) and the horizontal one per strip, which equals
// the direct resize up to float rounding (bilinear is separable) and keeps
// a 12000x12000 label map from needing K x 576 MB at once.
inline constexpr int64_t kResizeStripBytes = int64_t{256} << 20;
// Class tiles of ProtocolRunner's labelling (window maps, stitched and
// label-size maps of one tile): about this many bytes each.
inline constexpr int64_t kClassTileBytes = int64_t{32} << 20;
void for_each_resized_strip(const at::Tensor& logits, int64_t height, int64_t width,
                            const std::function<void(int64_t y0, const at::Tensor& strip)>& visit,
                            int64_t max_bytes = kResizeStripBytes);

// argmax over classes of logits (1,K,h,w) resized bilinearly to
// (height,width), without the (K,height,width) tensor: bilinear resize works
// channel by channel, so a tile of classes resized alone is exactly those
// channels of the whole resize; tiles of about `max_bytes`, merged keeping
// the first maximum as argmax does. Exactly argmax(upsample_bilinear2d(..)).
at::Tensor argmax_at_size(const at::Tensor& logits, int64_t height, int64_t width, int64_t max_bytes);

// The labels (height,width) int64 of logits (1,K,h,w) resized to that size:
// argmax (synonym queries merged; by class tiles, exact, argmax_at_size),
// or background_labels with prob_thd / area_thd > 0; strip by strip as
// for_each_resized_strip (area_thd's class areas summed over all strips
// first).
at::Tensor labels_at_size(const at::Tensor& logits, const std::vector<std::string>& class_names, int64_t height,
                          int64_t width, double prob_thd = 0, double area_thd = 0,
                          int64_t max_bytes = kResizeStripBytes);

// The window phase of a graph: the node of its [outputs] logits and every
// node that one depends on (per graph node). Throws ovseg::Error when the
// logits output is the pipeline input.
std::vector<bool> window_phase_nodes(const Graph& graph);

class ProtocolRunner {
 public:
  // Validates the phase split (throws ovseg::Error naming the node) and
  // instantiates the graph's stages on `device`.
  ProtocolRunner(const Graph& graph, Protocol protocol, const std::string& device,
                 std::vector<std::vector<std::string>> vocabulary = {}, std::vector<std::string> unseen_classes = {});
  // Runs on an existing executor (e.g. the one a trainer optimises, for
  // periodic evaluation with the weights as they are).
  ProtocolRunner(const Graph& graph, Protocol protocol, std::shared_ptr<Executor> executor);

  // The ground truth of one image at its label size, for graphs that read
  // input.labels / input.instances (ground_truth.hpp).
  struct Truth {
    at::Tensor labels;                     // (h,w) int64, 255 = ignore
    at::Tensor instances;                  // (h,w) int64 ids, 0 = none; undefined when the data set has none
    std::vector<std::string> class_names;  // names the LabelMap carries
  };
  // Which ground truth the graph reads (any phase).
  const GroundTruthUse& ground_truth_used() const { return gt_any_; }

  // image: (1,3,H,W) float RGB in [0,1], already resized (preprocess_image).
  // `truth` is required when the graph reads ground truth.
  Prediction predict(const at::Tensor& image, int label_h, int label_w, const Truth* truth = nullptr);

  // The stitched logits (1,K,H,W) of `image` (window phase + stitching only).
  at::Tensor stitched_logits(const at::Tensor& image, std::vector<NodeTiming>* timings = nullptr,
                             int* num_windows = nullptr, const Truth* truth = nullptr);

  // Whether predict() keeps the stitched logits in Prediction::logits (`ovseg
  // run` writes them). Without them, when only the protocol's argmax follows
  // a class-wise logits node (resize_logits), predict labels by class tiles:
  // the same labels, without the (B,K,window) and (K,H,W) tensors.
  void keep_logits(bool keep) { keep_logits_ = keep; }
  // About how many bytes one class tile's maps take (tests use small ones).
  void class_tile_bytes(int64_t bytes) { class_tile_bytes_ = bytes; }

  // ---- predict() in its pieces, for batching windows across images
  // (WindowBatcher, window_batcher.hpp); predict() is exactly
  //   finish(image, w, run_window_phase(crops(image, w), window_truth(..)), ..)
  // with w = windows_of(H, W).
  std::vector<Window> windows_of(int height, int width) const;
  // Whether windows of several images may share one window-phase batch (and
  // one image's windows be split over batches). Not when the window phase
  // reads ground truth (its instance masks are padded per batch) or has a
  // stage that declares its batch elements coupled (StageCapabilities::
  // batch_coupled, e.g. sam_auto_masks' padding), nor when a per-image
  // value of the window phase is read after it (mode "whole": an image-phase
  // input; or an input of the class-wise logits node besides its logits
  // when labelling by class tiles): those hold one image's values.
  bool batches_across_images() const;
  // The window phase's ground-truth inputs for `windows` of an image of this
  // size (none when the window phase reads no ground truth).
  std::map<std::string, PortValue> window_truth(const Truth* truth, int height, int width,
                                                const std::vector<Window>& windows) const;
  // The window phase on a batch of crops (N,3,h,w) (of any images: a window's
  // result depends on its crop alone). Returns, per window, what finish()
  // stitches: the logits (N,K,h,w), or, when predict() labels by class tiles,
  // the class-wise logits node's input logits (N,K,h',w').
  at::Tensor run_window_phase(const at::Tensor& crops, std::map<std::string, PortValue> truth_inputs,
                              std::vector<NodeTiming>* timings = nullptr);
  // The rest of predict() for one image: its windows' run_window_phase
  // outputs (in window order) stitched, the image phase, labels at the label
  // size. `timings` holds the image's share of the window phase.
  Prediction finish(const at::Tensor& image, const std::vector<Window>& windows, const at::Tensor& window_outputs,
                    int label_h, int label_w, const Truth* truth, std::vector<NodeTiming> timings);

  const std::vector<bool>& window_phase() const { return window_phase_; }
  const Protocol& protocol() const { return protocol_; }
  Executor& executor() { return *executor_; }

 private:
  const Graph& graph_;
  Protocol protocol_;
  std::shared_ptr<Executor> executor_;
  std::vector<bool> window_phase_;    // per graph node
  std::vector<bool> image_phase_;     // the complement
  std::vector<std::string> carried_;  // image-independent window-phase values the image phase reads
  std::map<std::string, PortValue> carried_values_;
  bool carried_per_image_ = false;        // a carried value depends on the image ("whole" mode)
  std::vector<std::string> tile_inputs_;  // window-phase values the class-wise logits node reads besides its logits
  std::map<std::string, PortValue> tile_values_;
  bool tile_inputs_per_image_ = false;    // one of them depends on the image
  bool window_batch_coupled_ = false;     // a window-phase stage couples batch elements (StageCapabilities)
  std::vector<std::string> class_names_;  // of the last window-phase logits
  std::string final_logits_key_;          // logits the labels come from, with background knobs
  GroundTruthUse gt_window_, gt_image_, gt_any_;
  bool keep_logits_ = false;
  int64_t class_tile_bytes_ = kClassTileBytes;
  std::string classwise_source_;  // the Logits the class-wise logits node reads; empty: none
  // The window-phase nodes on crops; with to_classwise_source all but the
  // logits node, returning its class-wise input (run_window_phase).
  at::Tensor run_window_nodes(const at::Tensor& crops, std::map<std::string, PortValue> truth_inputs,
                              std::vector<NodeTiming>* timings, bool to_classwise_source);
  void check_window_logits(const at::Tensor& logits, const at::Tensor& batch, int64_t classes = -1,
                           bool check_finite = true) const;
  [[noreturn]] void throw_non_finite_logits() const;
  bool labels_by_class_tiles() const;
  Prediction finish_by_class_tiles(const at::Tensor& image, const std::vector<Window>& windows,
                                   const at::Tensor& low_logits, int label_h, int label_w,
                                   std::vector<NodeTiming> timings);
  // input.labels / input.instances for a batch of crops of the truth resized
  // to the image (nearest), for the phase's needs.
  std::map<std::string, PortValue> truth_values(const Truth* truth, const GroundTruthUse& use, int height, int width,
                                                const std::vector<Window>& crops) const;
};

}  // namespace ovseg
