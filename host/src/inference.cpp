#include "ovseg/host/inference.hpp"

#include <algorithm>
#include <set>

#include <opencv2/imgproc.hpp>

#include "ovseg/sdk/bilinear.hpp"
#include "ovseg/sdk/diagnostics.hpp"
#include "ovseg/sdk/stage_capabilities.hpp"
#include "ovseg/sdk/synonyms.hpp"

namespace ovseg {

at::Tensor preprocess_image(const cv::Mat& bgr, const Protocol& protocol) {
  if (bgr.empty() || bgr.type() != CV_8UC3)
    throw std::invalid_argument("preprocess_image: expected a CV_8UC3 BGR image");
  const auto [w, h] = rescale_size(bgr.cols, bgr.rows, protocol);
  cv::Mat resized;
  // mmcv.imresize(interpolation='bilinear') = cv2.INTER_LINEAR on the uint8 image.
  if (w != bgr.cols || h != bgr.rows)
    cv::resize(bgr, resized, cv::Size(w, h), 0, 0, cv::INTER_LINEAR);
  else
    resized = bgr;
  cv::Mat rgb;
  cv::cvtColor(resized, rgb, cv::COLOR_BGR2RGB);
  cv::Mat f;
  rgb.convertTo(f, CV_32FC3, 1.0 / 255.0);
  at::Tensor hwc = at::from_blob(f.data, {h, w, 3}, at::kFloat).clone();
  return hwc.permute({2, 0, 1}).unsqueeze(0).contiguous();
}

namespace {

// SCLIP's class probabilities: softmax over the queries, then each class's
// best query.
at::Tensor class_probabilities(const at::Tensor& logits, const SynonymGroups& groups) {
  at::Tensor probs = logits.to(at::kFloat).softmax(0);
  if (groups.merges(probs.size(0))) probs = max_over_synonyms(probs, groups, 0);
  return probs;
}

// Pixels per class of the argmax, classes 1.. only ("prone background").
at::Tensor foreground_areas(const at::Tensor& probs) {
  return at::bincount(probs.argmax(0).flatten(), {}, probs.size(0)).slice(0, 1).to(at::kDouble);
}

// area_thd's rule on the summed areas, then argmax and prob_thd.
at::Tensor labels_from_probabilities(at::Tensor probs, const at::Tensor& area, double prob_thd, double area_thd) {
  const int64_t k = probs.size(0);
  if (area_thd > 0 && k > 1) {
    at::Tensor keep = (area > area_thd * area.sum()).to(probs.dtype());
    probs.slice(0, 1).mul_(keep.view({k - 1, 1, 1}));
  }
  auto [top, labels] = probs.max(0);
  if (prob_thd > 0) labels.masked_fill_(top < prob_thd, 0);
  return labels;
}

}  // namespace

at::Tensor background_labels(const at::Tensor& logits, double prob_thd, double area_thd,
                             const std::vector<std::string>& class_names) {
  expect_shape(logits, {-1, -1, -1}, "logits for background handling");
  at::Tensor probs = class_probabilities(logits, synonym_groups(class_names));
  const bool by_area = area_thd > 0 && probs.size(0) > 1;
  return labels_from_probabilities(probs, by_area ? foreground_areas(probs) : at::Tensor(), prob_thd, area_thd);
}

namespace {

// Output rows per strip of for_each_resized_strip.
int64_t strip_rows(const at::Tensor& logits, int64_t width, int64_t max_bytes) {
  const int64_t row_bytes = logits.size(1) * width * static_cast<int64_t>(sizeof(float));
  return std::max<int64_t>(1, max_bytes / std::max<int64_t>(row_bytes, 1));
}

}  // namespace

void for_each_resized_strip(const at::Tensor& logits, int64_t height, int64_t width,
                            const std::function<void(int64_t y0, const at::Tensor& strip)>& visit, int64_t max_bytes) {
  expect_shape(logits, {1, -1, -1, -1}, "logits to resize");
  const bool same = logits.size(2) == height && logits.size(3) == width;
  const int64_t rows = strip_rows(logits, width, max_bytes);
  if (rows >= height) {
    visit(0, same ? logits : resize_bilinear(logits.to(at::kFloat), height, width));
    return;
  }
  // Vertical pass on every row (K x height x w, small next to the output),
  // then horizontal per strip: with an unchanged height the source row of
  // output row y is y itself (weight exactly 1), so each strip is a plain
  // horizontal interpolation of its own rows.
  at::Tensor vertical = logits.to(at::kFloat);
  if (logits.size(2) != height) vertical = resize_bilinear(vertical, height, logits.size(3));
  for (int64_t y0 = 0; y0 < height; y0 += rows) {
    const at::Tensor part = vertical.slice(2, y0, std::min(height, y0 + rows));
    visit(y0, part.size(3) == width ? part : resize_bilinear(part, part.size(2), width));
  }
}

namespace {

// Class tiles: at least 2 classes per tile, because LibTorch resizes a
// 1-channel (N,1,h,w) tensor on its channels-last path, whose rounding
// differs (measured); a last tile of 1 joins the one before.
std::vector<std::pair<int64_t, int64_t>> class_tiles(int64_t k, int64_t per_tile) {
  std::vector<std::pair<int64_t, int64_t>> out;
  per_tile = std::max<int64_t>(2, per_tile);
  for (int64_t k0 = 0, k1 = 0; k0 < k; k0 = k1) {
    k1 = std::min(k, k0 + per_tile);
    if (k - k1 == 1) k1 = k;
    out.emplace_back(k0, k1);
  }
  return out;
}

}  // namespace

at::Tensor argmax_at_size(const at::Tensor& logits, int64_t height, int64_t width, int64_t max_bytes) {
  expect_shape(logits, {1, -1, -1, -1}, "logits to label");
  const int64_t plane = std::max<int64_t>(1, height * width * static_cast<int64_t>(sizeof(float)));
  ResizedArgmax best(height, width);  // resizes each tile (a tile already at the size is kept as is)
  for (const auto& [k0, k1] : class_tiles(logits.size(1), max_bytes / plane))
    best.add(logits.slice(1, k0, k1).to(at::kFloat), k0);
  return best.labels();
}

at::Tensor labels_at_size(const at::Tensor& logits, const std::vector<std::string>& class_names, int64_t height,
                          int64_t width, double prob_thd, double area_thd, int64_t max_bytes) {
  if (prob_thd <= 0 && area_thd <= 0) {
    at::Tensor best = argmax_at_size(logits, height, width, max_bytes);
    const SynonymGroups groups = synonym_groups(class_names);
    if (!groups.merges(logits.size(1))) return best;
    // The class of the best query, as argmax_labels.
    return at::tensor(groups.class_of_query, at::kLong).index_select(0, best.flatten()).view(best.sizes());
  }
  at::Tensor labels = at::empty({height, width}, at::TensorOptions().dtype(at::kLong));  // CPU
  if (strip_rows(logits, width, max_bytes) >= height) {  // one strip: resize, then SCLIP's rule as it is
    for_each_resized_strip(
        logits, height, width,
        [&](int64_t, const at::Tensor& all) {
          labels.copy_(background_labels(all[0], prob_thd, area_thd, class_names));
        },
        max_bytes);
    return labels;
  }
  const SynonymGroups groups = synonym_groups(class_names);
  at::Tensor area;  // area_thd compares classes over the whole image: sum the strips first
  const bool by_area = area_thd > 0 && (groups.merges(logits.size(1)) ? groups.classes.size() : logits.size(1)) > 1;
  if (by_area)
    for_each_resized_strip(
        logits, height, width,
        [&](int64_t, const at::Tensor& strip) {
          const at::Tensor a = foreground_areas(class_probabilities(strip[0], groups));
          area = area.defined() ? area + a : a;
        },
        max_bytes);
  for_each_resized_strip(
      logits, height, width,
      [&](int64_t y0, const at::Tensor& strip) {
        labels.slice(0, y0, y0 + strip.size(2))
            .copy_(labels_from_probabilities(class_probabilities(strip[0], groups), area, prob_thd, area_thd));
      },
      max_bytes);
  return labels;
}

std::vector<bool> window_phase_nodes(const Graph& graph) {
  const int logits_node = graph.logits_output.node;
  if (logits_node < 0)
    throw Error(graph.spec.outputs.count("logits") ? graph.spec.outputs.at("logits").where : SourceLocation{}, "",
                "the [outputs] logits port is the pipeline input; it must be a node's Logits output");
  // The logits node and everything it depends on. Nodes are in topological
  // order, so one backward sweep finds all ancestors.
  std::vector<bool> phase(graph.nodes.size(), false);
  phase[logits_node] = true;
  for (int i = logits_node; i >= 0; --i)
    if (phase[i])
      for (const auto& [port, ref] : graph.nodes[i].inputs)
        if (ref.node >= 0) phase[ref.node] = true;
  return phase;
}

ProtocolRunner::ProtocolRunner(const Graph& graph, Protocol protocol, const std::string& device,
                               std::vector<std::vector<std::string>> vocabulary,
                               std::vector<std::string> unseen_classes)
    : ProtocolRunner(graph, std::move(protocol),
                     std::make_shared<Executor>(graph, device, std::move(vocabulary), std::move(unseen_classes))) {}

ProtocolRunner::ProtocolRunner(const Graph& graph, Protocol protocol, std::shared_ptr<Executor> executor)
    : graph_(graph), protocol_(std::move(protocol)), executor_(std::move(executor)) {
  const size_t n = graph_.nodes.size();
  window_phase_ = window_phase_nodes(graph_);
  image_phase_.resize(n);
  // Dead nodes belong to neither phase: nothing is carried or read for them.
  const std::vector<bool> live = live_nodes(graph_);
  for (size_t i = 0; i < n; ++i) {
    image_phase_[i] = live[i] && !window_phase_[i];
    window_phase_[i] = live[i] && window_phase_[i];
  }
  for (size_t i = 0; i < n; ++i)
    window_batch_coupled_ = window_batch_coupled_ ||
                            (window_phase_[i] &&
                             capabilities_of(graph_.nodes[i].plugin->descriptor.name).batch_coupled);
  gt_window_ = ground_truth_use(graph_, window_phase_);
  gt_image_ = ground_truth_use(graph_, image_phase_);
  gt_any_ = ground_truth_use(graph_);

  // Which nodes see the image (directly or through their inputs).
  std::vector<bool> reads_image(n, false);
  for (size_t i = 0; i < n; ++i)
    for (const auto& [port, ref] : graph_.nodes[i].inputs)
      if (ref.node < 0 || reads_image[ref.node]) reads_image[i] = true;

  const std::string logits_key = graph_.logits_output.str(graph_);
  std::set<std::string> carried;
  for (size_t i = 0; i < n; ++i) {
    if (!image_phase_[i]) continue;
    for (const auto& [port, ref] : graph_.nodes[i].inputs) {
      if (ref.node < 0 || image_phase_[ref.node]) continue;
      const std::string k = ref.str(graph_);
      if (k == logits_key) continue;
      // In "whole" mode the one window is the image, so its values are the
      // image's and are handed over like image-independent ones.
      if (reads_image[ref.node] && protocol_.mode != "whole")
        throw Error(graph_.nodes[i].where, graph_.nodes[i].id,
                    "input '" + port + "' reads " + k + ", a per-window value; after stitching only " + logits_key +
                        " exists at image level",
                    "read the stitched logits (" + logits_key + ") or input.image instead");
      carried.insert(k);
      carried_per_image_ = carried_per_image_ || reads_image[ref.node];
    }
  }
  carried_.assign(carried.begin(), carried.end());
  // [outputs] labels may be implicit (the last LabelMap in the graph): then
  // point errors at the node that produces it.
  auto labels_where = [&]() -> SourceLocation {
    auto it = graph_.spec.outputs.find("labels");
    return it != graph_.spec.outputs.end() ? it->second.where : graph_.nodes[graph_.labels_output->node].where;
  };
  if (graph_.labels_output && graph_.labels_output->node >= 0) {
    // A labels node that declares its labels the protocol's labelling of its
    // logits (StageCapabilities::labels_by_protocol, e.g. argmax): the harness
    // labels those logits itself, at the label size, tile by tile, with the
    // protocol's prob_thd / area_thd. Any other labels node keeps its own
    // labels, and then the protocol cannot threshold them.
    const GraphNode& ln = graph_.nodes[graph_.labels_output->node];
    const std::string port = capabilities_of(ln.plugin->descriptor.name).labelled_by_protocol;
    if (!port.empty() && ln.inputs.count(port)) {
      final_logits_key_ = ln.inputs.at(port).str(graph_);
      // Its own labels would be discarded: skip the node unless another reads it.
      const int labels_node = graph_.labels_output->node;
      bool read = false;
      for (const auto& node : graph_.nodes)
        for (const auto& [p, ref] : node.inputs) read |= ref.node == labels_node;
      if (!read) image_phase_[labels_node] = false;
    } else if (protocol_.background_handling()) {
      throw Error(labels_where(), ln.id,
                  "protocol knobs prob_thd/area_thd label the final logits, but the labels output comes from "
                  "plugin '" +
                      ln.plugin->descriptor.name + "', whose labels are its own",
                  "remove [outputs] labels (or point it at an argmax of the logits), or set prob_thd = 0 and "
                  "area_thd = 0");
    }
  }
  // A class-wise logits node (StageCapabilities::classwise, e.g. the resize
  // to the window) fed by another window-phase node: predict may run it,
  // the stitching and the labelling by class tiles.
  {
    const GraphNode& ln = graph_.nodes[graph_.logits_output.node];
    const std::string port = capabilities_of(ln.plugin->descriptor.name).classwise_input;
    if (!port.empty() && ln.inputs.count(port) && ln.inputs.at(port).node >= 0)
      classwise_source_ = ln.inputs.at(port).str(graph_);
    // Its other inputs (but the image, which each tile is given) are
    // handed to each class tile as the window phase left them.
    for (const auto& [p, ref] : ln.inputs) {
      const std::string k = ref.str(graph_);
      if (classwise_source_.empty() || p == port || k == std::string(kInputNodeId) + ".image") continue;
      tile_inputs_.push_back(k);
      tile_inputs_per_image_ = tile_inputs_per_image_ || ref.node < 0 || reads_image[ref.node];
    }
  }
  if (graph_.labels_output && graph_.labels_output->node >= 0 && window_phase_[graph_.labels_output->node])
    throw Error(labels_where(), "",
                "the labels output " + graph_.labels_output->str(graph_) + " is computed before the logits output " +
                    logits_key + ", i.e. per window, so it cannot be stitched",
                "point [outputs] labels at a node after the logits (e.g. argmax of them)");
}

std::map<std::string, PortValue> ProtocolRunner::truth_values(const Truth* truth, const GroundTruthUse& use, int height,
                                                              int width, const std::vector<Window>& crops) const {
  if (!use.any()) return {};
  if (truth == nullptr || !truth->labels.defined())
    throw Error({graph_.spec.file, 0, 0}, "",
                "the pipeline reads ground truth (input.labels / input.instances), which exists "
                "only under `ovseg train` and `ovseg eval`",
                "evaluate it with ovseg eval or train it with ovseg train");
  auto resize_nearest = [&](const at::Tensor& t) {
    at::Tensor x = t.to(at::kFloat).view({1, 1, t.size(0), t.size(1)});
    if (t.size(0) != height || t.size(1) != width) x = at::upsample_nearest2d(x, {height, width});
    return x.view({height, width}).to(at::kLong);
  };
  auto window_batch = [&](const at::Tensor& map) {
    const at::Tensor full = resize_nearest(map);
    std::vector<at::Tensor> parts;
    for (const auto& w : crops) parts.push_back(full.slice(0, w.y1, w.y2).slice(1, w.x1, w.x2));
    return at::stack(parts);
  };
  if (use.instances && !truth->instances.defined())
    throw Error({graph_.spec.file, 0, 0}, "",
                "the pipeline reads input.instances, but the data set has no instance masks",
                "use a data set with instances (the world writes them)");
  return ground_truth_inputs(use, window_batch(truth->labels),
                             use.instances ? window_batch(truth->instances) : at::Tensor(), truth->class_names,
                             executor_->device());
}

std::vector<Window> ProtocolRunner::windows_of(int height, int width) const {
  if (protocol_.mode == "whole") return {{0, height, 0, width}};
  return slide_windows(height, width, protocol_.window, protocol_.stride);
}

namespace {

// The windows' crops as one batch (N,3,h,w): all windows run as one batch.
at::Tensor window_batch(const at::Tensor& image, const std::vector<Window>& windows) {
  std::vector<at::Tensor> crops;
  crops.reserve(windows.size());
  for (const auto& w : windows) crops.push_back(image.slice(2, w.y1, w.y2).slice(3, w.x1, w.x2));
  return windows.size() == 1 ? crops[0] : at::cat(crops, 0);
}

// Per node over both phases, in graph order.
std::vector<NodeTiming> sum_per_node(const Graph& graph, const std::vector<NodeTiming>& timings) {
  std::vector<NodeTiming> out;
  for (const auto& node : graph.nodes) {
    double ms = 0;
    bool ran = false;
    for (const auto& t : timings)
      if (t.node == node.id) ms += t.milliseconds, ran = true;
    if (ran) out.push_back({node.id, ms});
  }
  return out;
}

}  // namespace

void ProtocolRunner::check_window_logits(const at::Tensor& logits, const at::Tensor& batch, int64_t classes,
                                         bool check_finite) const {
  const std::string logits_key = graph_.logits_output.str(graph_);
  const GraphNode& node = graph_.nodes[graph_.logits_output.node];
  const int64_t ch = batch.size(2), cw = batch.size(3);
  if (logits.dim() != 4 || logits.size(0) != batch.size(0) || logits.size(2) != ch || logits.size(3) != cw ||
      (classes >= 0 && logits.size(1) != classes))
    throw Error(node.where, node.id,
                "logits output " + logits_key + " is " + shape_string(logits) + " for a window batch " +
                    shape_string(batch) + "; the protocol needs (" + std::to_string(batch.size(0)) + ", K, " +
                    std::to_string(ch) + ", " + std::to_string(cw) + ")",
                "end the logits with resize_logits wired to image = \"input.image\"");
  // NaN / inf logits (NaN weights, an infinite logit scale) would silently
  // become class 0 everywhere: refuse them, naming the node.
  if (!check_finite) return;
  for (int64_t i = 0; i < logits.size(0); ++i)
    if (!all_finite(logits[i])) throw_non_finite_logits();
}

void ProtocolRunner::throw_non_finite_logits() const {
  const GraphNode& node = graph_.nodes[graph_.logits_output.node];
  throw Error(node.where, node.id,
              "logits output " + graph_.logits_output.str(graph_) + " has non-finite values (NaN or inf)",
              "check the model's weights and the logit scale");
}

std::map<std::string, PortValue> ProtocolRunner::window_truth(const Truth* truth, int height, int width,
                                                              const std::vector<Window>& windows) const {
  return truth_values(truth, gt_window_, height, width, windows);
}

bool ProtocolRunner::batches_across_images() const {
  if (gt_window_.any() || carried_per_image_ || window_batch_coupled_) return false;
  return !(labels_by_class_tiles() && tile_inputs_per_image_);
}

at::Tensor ProtocolRunner::run_window_nodes(const at::Tensor& crops, std::map<std::string, PortValue> truth_inputs,
                                            std::vector<NodeTiming>* timings, bool to_classwise_source) {
  std::vector<bool> run = window_phase_;
  if (to_classwise_source) run[graph_.logits_output.node] = false;
  auto values = executor_->run_nodes(Image{crops}, run, std::move(truth_inputs), timings);
  for (const auto& k : carried_)
    if (const auto it = values.find(k); it != values.end()) carried_values_[k] = it->second;
  if (to_classwise_source) {
    for (const auto& k : tile_inputs_)
      if (const auto it = values.find(k); it != values.end()) tile_values_[k] = it->second;
    const Logits& low = std::get<Logits>(values.at(classwise_source_));
    class_names_ = low.class_names;
    return low.logits;
  }
  const Logits& out = std::get<Logits>(values.at(graph_.logits_output.str(graph_)));
  check_window_logits(out.logits, crops);
  class_names_ = out.class_names;
  return out.logits;
}

at::Tensor ProtocolRunner::run_window_phase(const at::Tensor& crops, std::map<std::string, PortValue> truth_inputs,
                                            std::vector<NodeTiming>* timings) {
  expect_shape(crops, {-1, 3, -1, -1}, "window crops for the protocol");
  return run_window_nodes(crops, std::move(truth_inputs), timings, labels_by_class_tiles());
}

at::Tensor ProtocolRunner::stitched_logits(const at::Tensor& image, std::vector<NodeTiming>* timings, int* num_windows,
                                           const Truth* truth) {
  expect_shape(image, {1, 3, -1, -1}, "image for the protocol");
  const int H = static_cast<int>(image.size(2)), W = static_cast<int>(image.size(3));
  const std::vector<Window> windows = windows_of(H, W);
  const at::Tensor logits = run_window_nodes(window_batch(image, windows), window_truth(truth, H, W, windows), timings,
                                             /*to_classwise_source=*/false);
  if (num_windows) *num_windows = static_cast<int>(windows.size());
  return stitch_windows(logits.to(at::kFloat), windows, H, W);
}

bool ProtocolRunner::labels_by_class_tiles() const {
  if (keep_logits_ || classwise_source_.empty() || protocol_.background_handling()) return false;
  // Only the protocol's labelling follows the logits: no image-phase node
  // reads the stitched logits, and the labels are their argmax.
  for (bool b : image_phase_)
    if (b) return false;
  return !graph_.labels_output || final_logits_key_ == graph_.logits_output.str(graph_);
}

Prediction ProtocolRunner::finish_by_class_tiles(const at::Tensor& image, const std::vector<Window>& windows,
                                                 const at::Tensor& low_logits, int label_h, int label_w,
                                                 std::vector<NodeTiming> timings) {
  // The same operations as stitching + labels_at_size, class tile by class
  // tile: the window phase up to the class-wise logits node (e.g. the resize
  // to the window) has run; that node, the stitching and the resize to the
  // label size run per tile, and a running argmax merges the tiles. Every
  // one of them works class by class, so the labels are exactly the untiled
  // ones, while no (B,K,window) or (K,H,W) tensor exists at once.
  Prediction out;
  const int H = static_cast<int>(image.size(2)), W = static_cast<int>(image.size(3));
  out.resized_h = H;
  out.resized_w = W;
  const at::Tensor batch = window_batch(image, windows);
  out.num_windows = static_cast<int>(windows.size());
  const int node = graph_.logits_output.node;
  std::vector<bool> only_node(graph_.nodes.size(), false);
  only_node[node] = true;
  out.logit_names = class_names_;
  const int64_t k = low_logits.size(1);
  const int64_t pixels = std::max<int64_t>({batch.size(0) * batch.size(2) * batch.size(3), static_cast<int64_t>(H) * W,
                                            static_cast<int64_t>(label_h) * label_w});
  const std::string logits_key = graph_.logits_output.str(graph_);
  const bool named = static_cast<int64_t>(class_names_.size()) == k;
  ResizedArgmax best(label_h, label_w);  // the resize to the label size and the argmax, fused
  for (const auto& [k0, k1] : class_tiles(k, class_tile_bytes_ / (pixels * static_cast<int64_t>(sizeof(float))))) {
    std::map<std::string, PortValue> given = tile_values_;
    given[classwise_source_] = Logits{low_logits.slice(1, k0, k1),
                                      named ? std::vector<std::string>(class_names_.begin() + k0,
                                                                       class_names_.begin() + k1)
                                            : class_names_};
    const auto produced = executor_->run_nodes(Image{batch}, only_node, std::move(given), &timings);
    const at::Tensor& tile = std::get<Logits>(produced.at(logits_key)).logits;
    check_window_logits(tile, batch, k1 - k0, /*check_finite=*/false);
    const at::Tensor stitched = stitch_windows(tile.to(at::kFloat), windows, H, W);
    // A NaN or inf in any window stays NaN or inf in the mean, so checking
    // the stitched tile (fewer values) catches exactly what the windows hold.
    if (!all_finite(stitched)) throw_non_finite_logits();
    best.add(stitched, k0);
  }
  at::Tensor labels = best.labels();
  const SynonymGroups groups = synonym_groups(class_names_);
  if (groups.merges(k))  // the class of the best query, as argmax_labels
    labels = at::tensor(groups.class_of_query, at::kLong).index_select(0, labels.flatten()).view(labels.sizes());
  out.labels = labels;
  out.class_names = groups.merges(k) ? groups.classes : class_names_;
  out.timings = sum_per_node(graph_, timings);
  return out;
}

Prediction ProtocolRunner::predict(const at::Tensor& image, int label_h, int label_w, const Truth* truth) {
  expect_shape(image, {1, 3, -1, -1}, "image for the protocol");
  const int H = static_cast<int>(image.size(2)), W = static_cast<int>(image.size(3));
  const std::vector<Window> windows = windows_of(H, W);
  std::vector<NodeTiming> timings;
  const at::Tensor outputs = run_window_phase(window_batch(image, windows), window_truth(truth, H, W, windows),
                                              &timings);
  return finish(image, windows, outputs, label_h, label_w, truth, std::move(timings));
}

Prediction ProtocolRunner::finish(const at::Tensor& image, const std::vector<Window>& windows,
                                  const at::Tensor& window_outputs, int label_h, int label_w, const Truth* truth,
                                  std::vector<NodeTiming> timings) {
  expect_shape(image, {1, 3, -1, -1}, "image for the protocol");
  if (window_outputs.dim() < 1 || window_outputs.size(0) != static_cast<int64_t>(windows.size()))
    throw std::invalid_argument("ProtocolRunner::finish: window outputs " + shape_string(window_outputs) + " for " +
                                std::to_string(windows.size()) + " windows");
  if (labels_by_class_tiles())
    return finish_by_class_tiles(image, windows, window_outputs, label_h, label_w, std::move(timings));
  Prediction out;
  out.resized_h = static_cast<int>(image.size(2));
  out.resized_w = static_cast<int>(image.size(3));
  out.num_windows = static_cast<int>(windows.size());
  at::Tensor logits = stitch_windows(window_outputs.to(at::kFloat), windows, out.resized_h, out.resized_w);

  const std::string logits_key = graph_.logits_output.str(graph_);
  std::map<std::string, PortValue> given = truth_values(truth, gt_image_, out.resized_h, out.resized_w,
                                                        {{0, out.resized_h, 0, out.resized_w}});
  for (auto& [k, v] : carried_values_) given[k] = v;
  given[logits_key] = Logits{logits, class_names_};
  bool any_image_node = false;
  for (bool b : image_phase_) any_image_node |= b;
  std::map<std::string, PortValue> values;
  if (any_image_node) values = executor_->run_nodes(Image{image}, image_phase_, std::move(given), &timings);

  if (!final_logits_key_.empty() || !graph_.labels_output) {
    // The protocol's final labelling: the labels node's logits (or the
    // stitched logits when the pipeline names no labels), resized to the
    // label size and argmax'd, with prob_thd / area_thd.
    at::Tensor final_logits = logits;
    std::vector<std::string> final_names = class_names_;
    if (values.count(final_logits_key_)) {
      final_logits = std::get<Logits>(values.at(final_logits_key_)).logits;
      final_names = std::get<Logits>(values.at(final_logits_key_)).class_names;
    }
    expect_shape(final_logits, {1, -1, -1, -1}, "final logits " + final_logits_key_);
    out.labels = labels_at_size(final_logits, final_names, label_h, label_w, protocol_.prob_thd, protocol_.area_thd);
  } else if (graph_.labels_output) {
    at::Tensor labels = std::get<LabelMap>(values.at(graph_.labels_output->str(graph_))).labels;
    expect_shape(labels, {1, -1, -1}, "labels output " + graph_.labels_output->str(graph_));
    if (labels.size(1) != label_h || labels.size(2) != label_w)
      labels = at::upsample_nearest2d(labels.unsqueeze(1).to(at::kFloat), {label_h, label_w}).squeeze(1).to(at::kLong);
    out.labels = labels[0].to(at::kCPU, at::kLong).contiguous();
  }
  out.logits = logits;
  out.logit_names = class_names_;
  // Synonym queries (repeated names) are one class each: every path above
  // labels the distinct names.
  out.class_names = synonym_groups(class_names_).classes;
  out.timings = sum_per_node(graph_, timings);
  return out;
}

}  // namespace ovseg
