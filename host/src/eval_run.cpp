#include "ovseg/host/eval_run.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <iostream>
#include <set>
#include <sstream>

#include <ATen/Parallel.h>
#include <torch/version.h>
#include <toml++/toml.h>

#include "ovseg/harness/boundary.hpp"
#include "ovseg/harness/dataset.hpp"
#include "ovseg/harness/metrics.hpp"
#include "ovseg/host/device.hpp"
#include "ovseg/host/image_io.hpp"
#include "ovseg/host/inference.hpp"
#include "ovseg/host/qualitative_pool.hpp"
#include "ovseg/host/window_batcher.hpp"
#include "ovseg/models/model_zoo.hpp"
#include "ovseg/models/sha256.hpp"
#include "ovseg/sdk/runtime.hpp"

#ifndef OVSEG_GIT_COMMIT
#define OVSEG_GIT_COMMIT "unknown"
#endif
#ifndef OVSEG_VERSION
#define OVSEG_VERSION "unknown"
#endif

namespace ovseg {

namespace fs = std::filesystem;
using nlohmann::json;

std::string ovseg_version() { return OVSEG_VERSION; }
std::string ovseg_git_commit() { return OVSEG_GIT_COMMIT; }

std::pair<int, int> parse_shard(const std::string& text) {
  const auto slash = text.find('/');
  try {
    if (slash != std::string::npos) {
      size_t a = 0, b = 0;
      const int i = std::stoi(text.substr(0, slash), &a);
      const int n = std::stoi(text.substr(slash + 1), &b);
      if (a == slash && b == text.size() - slash - 1 && n >= 1 && i >= 0 && i < n) return {i, n};
    }
  } catch (const std::exception&) {
  }
  throw std::invalid_argument("--shard '" + text + "': expected i/N with 0 <= i < N, e.g. 0/4");
}

namespace {

// A resume checkpoint that cannot be used: --force discards it (and says
// so), otherwise the error says how to go on.
void unusable_checkpoint(const std::string& path, const std::string& problem, bool force) {
  if (!force)
    throw std::runtime_error(path + ": cannot resume from this checkpoint: " + problem +
                             "; delete it, or rerun with --force to discard it and start over");
  std::error_code ec;
  fs::remove(path, ec);
  std::cerr << "warning: discarded the unusable checkpoint " << path << " (" << problem << "); starting over\n";
}

// An exception's message without the "path: " it starts with and without
// nlohmann's "[json.exception.type_error.302] " tag.
std::string problem_text(const std::exception& e, const std::string& path) {
  std::string m = e.what();
  if (m.rfind(path + ": ", 0) == 0) m = m.substr(path.size() + 2);
  if (m.rfind("[json.exception.", 0) == 0 && m.find("] ") != std::string::npos) m = m.substr(m.find("] ") + 2);
  return m;
}

// The checkpoint at `path`, or nullopt when absent or discarded.
std::optional<json> read_checkpoint(const std::string& path, bool force) {
  try {
    return read_json_file(path);
  } catch (const std::exception& e) {
    unusable_checkpoint(path, problem_text(e, path), force);
    return std::nullopt;
  }
}

// Each `model` parameter that names a file (a path, or a zoo name already in
// the cache), with its sha256: the weights are part of what a number means.
json model_files(const Graph& graph) {
  json out = json::array();
  const fs::path dir = fs::path(graph.spec.file).parent_path();
  for (const auto& node : graph.nodes) {
    for (const auto& [name, value] : node.params.all()) {
      const auto* s = std::get_if<std::string>(&value);
      if (s == nullptr || s->empty() || (name != "model" && name.find("model") == std::string::npos)) continue;
      json entry = {{"node", node.id}, {"param", name}, {"value", *s}};
      try {
        std::string arg = *s;
        if (fs::path(arg).is_relative() && fs::exists(dir / arg)) arg = (dir / arg).string();
        const std::string file = models::resolve_model_file(arg);
        entry["file"] = fs::absolute(file).string();
        entry["sha256"] = models::cached_file_sha256(file);
      } catch (const std::exception& e) {
        entry["error"] = e.what();
      }
      out.push_back(entry);
    }
    // Trained weights are part of what a number means too.
    if (!node.weights.empty()) {
      json entry = {{"node", node.id}, {"param", "weights"}, {"value", node.weights}};
      try {
        entry["file"] = fs::absolute(node.weights).string();
        entry["sha256"] = models::cached_file_sha256(node.weights);
      } catch (const std::exception& e) {
        entry["error"] = e.what();
      }
      out.push_back(entry);
    }
  }
  return out;
}

// A CV_32SC1 map as an (h,w) int64 tensor (its own copy).
at::Tensor mat_to_long(const cv::Mat& m) {
  CV_Assert(m.type() == CV_32SC1 && m.isContinuous());
  return at::from_blob(const_cast<uchar*>(m.data), {m.rows, m.cols}, at::kInt).to(at::kLong);
}

std::string hms(double seconds) {
  if (!(seconds >= 0) || seconds > 1e7) return "?";
  const long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  return buf;
}

// "[eval] 40/164 (24%)  3.1 img/s  ETA 0:00:40": redrawn in place on a
// terminal, one line per checkpoint otherwise (logs stay readable).
class Progress {
 public:
  Progress(bool enabled, size_t total) : enabled_(enabled), tty_(::isatty(2) == 1), total_(total) {}
  void update(size_t done, size_t new_done, double seconds, bool force) {
    if (!enabled_ || (!tty_ && !force)) return;
    const double rate = seconds > 0 ? new_done / seconds : 0;
    const double eta = rate > 0 ? (total_ - done) / rate : -1;
    char buf[160];
    std::snprintf(buf, sizeof buf, "[eval] %zu/%zu (%.0f%%)  %.2f img/s  ETA %s", done, total_,
                  total_ ? 100.0 * done / total_ : 100.0, rate, hms(eta).c_str());
    if (tty_)
      std::cerr << "\r\033[K" << buf << std::flush;
    else
      std::cerr << buf << "\n";
  }
  void finish() {
    if (enabled_ && tty_) std::cerr << "\n";
  }

 private:
  bool enabled_, tty_;
  size_t total_;
};

// The trimap band's metric (boundary.hpp) as records store it.
json boundary_json(const harness::ConfusionMatrix& cm) {
  const harness::SegmentationMetrics m = harness::compute_metrics(cm);
  json per_class = json::array();
  for (double v : m.iou) per_class.push_back(std::isnan(v) ? json(nullptr) : json(v));
  return {{"metric", "trimap IoU"},
          {"definition",
           "IoU on the pixels within max(1, round(dilation_ratio x image diagonal)) px of a "
           "ground-truth boundary (ovseg/harness/boundary.hpp)"},
          {"dilation_ratio", harness::kBoundaryDilationRatio},
          {"mIoU", std::isnan(m.miou) ? json(nullptr) : json(m.miou)},
          {"per_class_iou", per_class},
          {"confusion_matrix", cm.to_json()}};
}

// Paths as written do not make a run (issue 22): every string value that
// names an existing file (relative to the pipeline's folder or absolute: a
// model, a names file, a templates file) is replaced by its content's
// sha256, so two spellings of one file are one run and one table row.
void content_address(toml::node& n, const fs::path& dir) {
  if (auto* s = n.as_string()) {
    const std::string text = s->get();
    if (text.empty() || text.size() > 4096) return;
    std::error_code ec;
    const fs::path p = fs::path(text).is_absolute() ? fs::path(text) : dir / text;
    if (fs::is_regular_file(p, ec)) *s = "file sha256 " + models::cached_file_sha256(p.string());
  } else if (auto* t = n.as_table()) {
    for (auto&& [k, v] : *t) content_address(v, dir);
  } else if (auto* a = n.as_array()) {
    for (auto& e : *a) content_address(e, dir);
  }
}

std::string content_addressed(const std::string& toml_text, const fs::path& dir) {
  toml::table root;
  try {
    root = toml::parse(toml_text);
  } catch (const toml::parse_error&) {
    return toml_text;  // hash it as written
  }
  content_address(root, dir);
  std::ostringstream os;
  os << root;
  return os.str();
}

// The data set's vocabulary as records store it: the names classes are shown
// under, the query words each class is prompted with, and a hash of both.
json vocabulary_json(const harness::Dataset& ds) {
  const std::vector<std::string> names = ds.display_class_names();
  const harness::ClassNames& queries = ds.class_names();
  std::string text;
  for (size_t c = 0; c < names.size(); ++c) {
    text += names[c] + ":";
    for (const auto& q : queries[c]) text += " " + q + ",";
    text += "\n";
  }
  return {{"dataset", ds.name()}, {"names", names}, {"queries", queries}, {"sha256", models::sha256_hex(text)}};
}

std::string quoted_list(const std::vector<std::string>& xs, size_t around) {
  std::string s;
  const size_t from = around > 2 ? around - 2 : 0, to = std::min(xs.size(), around + 3);
  if (from > 0) s += "..., ";
  for (size_t i = from; i < to; ++i) s += (i > from ? ", " : "") + std::string("'") + xs[i] + "'";
  if (to < xs.size()) s += ", ...";
  return "[" + s + "] (" + std::to_string(xs.size()) + " classes)";
}

// Whether a pipeline class named `name` is data-set class c: its display
// name or one of its query words (a pipeline given SCLIP's VOC21 list calls
// the background "sky", its first word).
bool names_class(const std::string& name, const harness::Dataset& ds, const std::vector<std::string>& display,
                 size_t c) {
  if (display[c] == name) return true;
  const auto& q = ds.class_names()[c];
  return std::find(q.begin(), q.end(), name) != q.end();
}

// The data set owns the vocabulary: the pipeline's classes must be the data
// set's, in order, unless its [vocabulary] map says which data-set class
// each of its classes is. Returns the pipeline index -> data-set index table
// (empty: the identity). Throws naming the first difference of both lists.
std::vector<int64_t> check_vocabulary(const std::vector<std::string>& pipeline_classes, const harness::Dataset& ds,
                                      const PipelineSpec& spec) {
  const std::vector<std::string> display = ds.display_class_names();
  const std::string fix =
      " -- fix: let the text node take the data set's classes (no class_names / names_file), or declare how the "
      "pipeline's classes name the data set's with [vocabulary] map = { \"pipeline class\" = \"data-set class\" }";
  if (!spec.has_class_map) {
    for (size_t i = 0; i < std::max(pipeline_classes.size(), display.size()); ++i) {
      if (i < pipeline_classes.size() && i < display.size() && names_class(pipeline_classes[i], ds, display, i))
        continue;
      const std::string p = i < pipeline_classes.size() ? "'" + pipeline_classes[i] + "'" : "nothing";
      const std::string d = i < display.size() ? "'" + display[i] + "'" : "nothing";
      throw std::runtime_error("pipeline '" + spec.name + "' predicts other classes than data set '" + ds.name() +
                               "': class " + std::to_string(i) + " is " + p + " in the pipeline and " + d +
                               " in the data set; pipeline " + quoted_list(pipeline_classes, i) + ", data set " +
                               quoted_list(display, i) + fix);
    }
    return {};
  }
  for (const auto& [from, to] : spec.class_map)
    if (std::find(pipeline_classes.begin(), pipeline_classes.end(), from) == pipeline_classes.end())
      throw std::runtime_error("pipeline '" + spec.name + "': [vocabulary] map names '" + from +
                               "', which is not one of its classes " + quoted_list(pipeline_classes, 0) +
                               did_you_mean(from, pipeline_classes));
  std::vector<int64_t> remap;
  for (const auto& name : pipeline_classes) {
    const auto it = spec.class_map.find(name);
    const std::string target = it == spec.class_map.end() ? name : it->second;
    int64_t found = -1;
    for (size_t c = 0; c < display.size() && found < 0; ++c)
      if (names_class(target, ds, display, c)) found = static_cast<int64_t>(c);
    if (found < 0)
      throw std::runtime_error("pipeline '" + spec.name + "': its class '" + name + "'" +
                               (target != name ? " (mapped to '" + target + "')" : "") +
                               " is not a class of data set '" + ds.name() + "' " + quoted_list(display, 0) +
                               did_you_mean(target, display) + " -- fix: map it in [vocabulary] map");
    remap.push_back(found);
  }
  return remap;
}
}  // namespace

RunKey record_key(const json& r) {
  RunKey k;
  k.pipeline_name = r.at("pipeline").at("name").get<std::string>();
  k.pipeline_sha256 = r.at("pipeline").at("sha256").get<std::string>();
  k.dataset = r.at("dataset").at("name").get<std::string>();
  k.split = r.at("dataset").at("split").get<std::string>();
  const json& sel = r.at("selection");
  k.limit = sel.at("limit").is_null() ? -1 : sel.at("limit").get<long>();
  k.shard_index = sel.at("shard").at("index").get<int>();
  k.shard_count = sel.at("shard").at("count").get<int>();
  k.precision = r.value("precision", "fp32");  // records from before --precision ran in float32
  return k;
}

void apply_zero_shot(json& record, const harness::ZeroShotSplit& split) {
  if (split.empty()) {
    record.erase("zero_shot");
    return;
  }
  const auto classes = record.at("dataset").at("class_names").get<std::vector<std::string>>();
  const auto mask = harness::unseen_mask(split, classes);
  const auto m = harness::compute_metrics(harness::ConfusionMatrix::from_json(record.at("confusion_matrix")));
  record["zero_shot"] = harness::zero_shot_to_json(split, harness::zero_shot_metrics(m, mask));
}

namespace {

// A request that cannot run is refused before anything loads; a device that
// does not exist fails even when the record is stored.
void check_request(const EvalOptions& o) {
  parse_device(o.device);
  if (o.device != "cpu" && !cuda_available())
    throw std::runtime_error("device '" + o.device +
                             "' is not available (this LibTorch has no CUDA, or no GPU is visible)");
  check_precision_device(o.precision, o.device);
  if (o.limit == 0) throw std::invalid_argument("--limit 0 would store a record of no images; give N >= 1");
  if (o.split.empty() || o.split.find_first_not_of(
                             "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != std::string::npos)
    throw std::invalid_argument("--split '" + o.split + "' is not a split name (letters, digits, '_' and '-')");
  if (o.shard_count < 1 || o.shard_index < 0 || o.shard_index >= o.shard_count)
    throw std::invalid_argument("shard " + std::to_string(o.shard_index) + "/" + std::to_string(o.shard_count) +
                                " is not 0 <= i < N");
}

// A pipeline with settings for this data set must have been loaded with
// them (load_pipeline_spec's dataset), and with no other data set's.
void check_dataset_settings(const Graph& graph, const harness::Dataset& ds) {
  const std::vector<std::string>& tables = graph.spec.dataset_tables;
  if (!graph.spec.dataset.empty() && graph.spec.dataset != ds.name())
    throw std::runtime_error("pipeline '" + graph.spec.name + "' was loaded with the settings of data set '" +
                             graph.spec.dataset + "' but is evaluated on '" + ds.name() + "'");
  if (graph.spec.dataset.empty() && std::find(tables.begin(), tables.end(), ds.name()) != tables.end())
    throw std::runtime_error("pipeline '" + graph.spec.name + "' has settings for data set '" + ds.name() +
                             "' ([datasets." + ds.name() + "]) that were not applied: load it with that data set");
}

struct ImageSelection {
  std::vector<size_t> indices;         // the images this run scores
  std::map<size_t, size_t> pool_rank;  // image index -> position in the report's pool
};

// The first `limit` images, then every shard_count-th from shard_index: the
// shards of a run partition exactly the images of the unsharded run. The
// report's comparison images are chosen from the unsharded selection by id
// alone, so every method (and every shard's part) stores the same ones.
ImageSelection select_images(const harness::Dataset& ds, const EvalOptions& o) {
  ImageSelection s;
  size_t n = ds.size();
  if (o.limit >= 0) n = std::min(n, static_cast<size_t>(o.limit));
  for (size_t i = static_cast<size_t>(o.shard_index); i < n; i += static_cast<size_t>(o.shard_count))
    s.indices.push_back(i);
  std::vector<std::string> selection_ids;
  for (size_t i = 0; i < n; ++i) selection_ids.push_back(ds.id(i));
  const std::vector<size_t> pool = qualitative_pool(selection_ids);
  for (size_t r = 0; r < pool.size(); ++r) s.pool_rank[pool[r]] = r;
  return s;
}

struct RunIdentity {
  json model_list;            // every model / weights file with its sha256
  RunKey key;                 // names the record and its checkpoint
  std::string family_sha256;  // one table row: the pipeline before any data set's settings
};

// The key hashes the resolved TOML AND the bytes of every model and weights
// file it names: new bytes at the same path are a new run, never the old
// record, and a resumed run cannot mix two checkpoints.
RunIdentity run_identity(const Graph& graph, const harness::Dataset& ds, const json& vocabulary,
                         const harness::ZeroShotSplit& zero_shot, const EvalOptions& o) {
  RunIdentity id;
  id.model_list = model_files(graph);
  const fs::path pipeline_dir = fs::path(graph.spec.file).parent_path();
  std::string identity = content_addressed(graph.spec.resolved_toml, pipeline_dir);
  std::string model_lines;
  for (const auto& m : id.model_list)
    model_lines += "\nmodel " + m.value("node", "") + "." + m.value("param", "") + "=" +
                   m.value("sha256", m.value("error", std::string("?")));
  identity += model_lines;
  // Two data sets under one name ("folder" roots of other worlds) are two runs.
  identity += "\nvocabulary=" + vocabulary.at("sha256").get<std::string>();
  // One table row: the pipeline before any data set's settings, its models.
  std::string family = content_addressed(graph.spec.family_toml, pipeline_dir);
  for (const auto& edit : graph.spec.family_edits) family += "\n" + edit;
  // Reduced precision is another run and another table row; fp32 adds
  // nothing, so records from before --precision keep their keys.
  const std::string precision_line = o.precision == Precision::fp32 ? "" : "\nprecision=" + to_string(o.precision);
  identity += precision_line;
  id.family_sha256 = models::sha256_hex(family + model_lines + precision_line);
  // A stage that reads the split (seen-class calibration) predicts
  // differently under another one: the split is then part of the run.
  const bool split_changes_predictions = std::any_of(graph.nodes.begin(), graph.nodes.end(), [](const GraphNode& n) {
    return n.plugin->descriptor.zero_shot_split;
  });
  if (split_changes_predictions) {
    identity += "\nunseen=";
    for (const auto& c : zero_shot.unseen) identity += c + ";";
  }
  id.key = RunKey{graph.spec.name, models::sha256_hex(identity), ds.name(), ds.split(), o.limit, o.shard_index,
                  o.shard_count,   to_string(o.precision)};
  return id;
}

// The stored record of this run, brought up to the requested split (it is
// derived from the confusion matrix, so nothing runs); nullopt when absent.
std::optional<json> stored_record(const std::string& path, const harness::ZeroShotSplit& zero_shot) {
  auto stored = read_json_file(path);
  if (!stored || stored->value("kind", "") != kRecordKind) return std::nullopt;
  const json before = stored->value("zero_shot", json());
  apply_zero_shot(*stored, zero_shot);
  if (stored->value("zero_shot", json()) != before) write_json_atomic(path, *stored);
  return stored;
}

// What the images scored so far add up to: what a checkpoint holds.
struct Tally {
  harness::ConfusionMatrix cm;
  harness::ConfusionMatrix boundary_cm;  // trimap band (boundary.hpp)
  bool boundary_ok = true;               // false when resumed from a checkpoint that lacks it
  std::vector<std::string> done_ids;
  std::set<std::string> done;
  json qualitative = qualitative_block();  // the pool images run so far
  std::map<std::string, double> node_ms;
  double previous_seconds = 0;
  explicit Tally(int num_classes) : cm(num_classes), boundary_cm(num_classes) {}
};

// Continues from the checkpoint at ckpt_path when there is one; returns the
// images it held.
size_t resume_from_checkpoint(Tally& t, const std::string& ckpt_path, const RunKey& key, const EvalOptions& o) {
  auto partial = read_checkpoint(ckpt_path, o.force);
  if (!partial) return 0;
  if (partial->value("kind", "") != kPartialKind || partial->value("key", "") != key.stem() ||
      partial->value("pipeline_sha256", "") != key.pipeline_sha256)
    throw std::runtime_error(ckpt_path + ": checkpoint of a different run; delete it to start over");
  try {  // into temporaries: a checkpoint is taken whole or not at all
    harness::ConfusionMatrix p_cm = harness::ConfusionMatrix::from_json(partial->at("confusion_matrix"));
    std::optional<harness::ConfusionMatrix> p_boundary;
    if (partial->contains("boundary_confusion_matrix"))
      p_boundary = harness::ConfusionMatrix::from_json(partial->at("boundary_confusion_matrix"));
    auto p_done = partial->at("done_ids").get<std::vector<std::string>>();
    // A checkpoint written before pools (an array of strips) starts a new block.
    json p_qualitative = merge_qualitative({partial->value("qualitative", json())});
    auto p_node_ms = partial->at("per_node_ms").get<std::map<std::string, double>>();
    const double p_seconds = partial->at("elapsed_s").get<double>();
    t.cm = std::move(p_cm);
    if (p_boundary) t.boundary_cm = std::move(*p_boundary);
    t.boundary_ok = p_boundary.has_value();
    t.done_ids = std::move(p_done);
    t.qualitative = std::move(p_qualitative);
    t.node_ms = std::move(p_node_ms);
    t.previous_seconds = p_seconds;
  } catch (const std::exception& e) {
    unusable_checkpoint(ckpt_path, "unexpected contents: " + problem_text(e, ckpt_path), o.force);
  }
  t.done.insert(t.done_ids.begin(), t.done_ids.end());
  if (o.progress && !t.done_ids.empty())
    std::cerr << "[eval] resuming " << key.stem() << " from " << t.done_ids.size() << " images\n";
  return t.done_ids.size();
}

void write_checkpoint(const Tally& t, const std::string& ckpt_path, const RunKey& key, double seconds) {
  json p = {{"kind", kPartialKind},
            {"key", key.stem()},
            {"pipeline_sha256", key.pipeline_sha256},
            {"done_ids", t.done_ids},
            {"confusion_matrix", t.cm.to_json()},
            {"per_node_ms", t.node_ms},
            {"qualitative", t.qualitative},
            {"elapsed_s", t.previous_seconds + seconds},
            {"date", utc_now_iso8601()}};
  if (t.boundary_ok) p["boundary_confusion_matrix"] = t.boundary_cm.to_json();
  write_json_atomic(ckpt_path, p);
}

// One image into the batcher; oracle inputs (input.labels /
// input.instances) get this image's truth. Returns the images finished.
std::vector<Prediction> queue_image(WindowBatcher& batcher, const ProtocolRunner& runner, const harness::Sample& s,
                                    const Protocol& protocol, const std::vector<std::string>& class_names) {
  at::Tensor image = preprocess_image(s.image, protocol);
  if (!runner.ground_truth_used().any()) return batcher.add(image, s.label.rows, s.label.cols);
  ProtocolRunner::Truth truth;
  truth.labels = mat_to_long(s.label);
  if (!s.instances.empty()) truth.instances = mat_to_long(s.instances);
  truth.class_names = class_names;
  return batcher.add(image, s.label.rows, s.label.cols, &truth);
}

// How the windows were batched (not part of the run: labels are the same).
json batching_json(const BatchLimits& limits, const WindowBatcher::Stats& s) {
  return {{"windows", limits.windows},        {"memory_mb", limits.memory_mb},
          {"across_images", s.across_images}, {"batches", s.batches},
          {"largest_batch", s.largest_batch}, {"window_phase_peak_mb", s.window_phase_peak_mb}};
}

// Everything a record holds besides the per-image work: what ran, on what,
// how, and the metrics of the tally.
json build_record(const Graph& graph, const EvalOptions& o, const harness::Dataset& ds, const RunIdentity& id,
                  const json& vocabulary, const Protocol& protocol, const ProtocolRunner& runner, const Tally& t,
                  const std::vector<std::string>& pipeline_classes, std::vector<std::string> warnings,
                  size_t resumed_images, double total_s) {
  const std::vector<std::string> class_names = ds.display_class_names();
  const harness::SegmentationMetrics m = harness::compute_metrics(t.cm);
  json record;
  record["kind"] = kRecordKind;
  record["format_version"] = 1;
  record["key"] = id.key.stem();
  record["date"] = utc_now_iso8601();
  record["pipeline"] = {{"name", graph.spec.name},
                        {"description", graph.spec.description},
                        {"file", fs::absolute(graph.spec.file).string()},
                        {"sha256", id.key.pipeline_sha256},
                        {"resolved_toml", graph.spec.resolved_toml},
                        {"family_sha256", id.family_sha256},
                        {"files", graph.spec.files},
                        {"dataset_settings",
                         {{"applied", graph.spec.dataset.empty() ? json(nullptr) : json(graph.spec.dataset)},
                          {"declared", graph.spec.dataset_tables}}},
                        {"class_names", pipeline_classes}};
  if (graph.spec.has_class_map) record["pipeline"]["class_map"] = graph.spec.class_map;
  record["vocabulary"] = vocabulary;
  record["dataset"] = {{"name", ds.name()},
                       {"split", ds.split()},
                       {"data_root", fs::absolute(o.data_root).string()},
                       {"size", ds.size()},
                       {"num_classes", ds.num_classes()},
                       {"ignore_index", ds.ignore_index()},
                       {"class_names", class_names}};
  record["protocol"] = protocol.to_json();
  record["selection"] = {{"limit", o.limit >= 0 ? json(o.limit) : json(nullptr)},
                         {"shard", {{"index", o.shard_index}, {"count", o.shard_count}}},
                         {"num_images", t.done_ids.size()},
                         {"ids", t.done_ids}};
  record["models"] = id.model_list;
  // Runs that read the ground truth (oracle rows) say so.
  {
    json gt = json::array();
    if (runner.ground_truth_used().labels) gt.push_back("labels");
    if (runner.ground_truth_used().instances) gt.push_back("instances");
    if (!gt.empty()) record["ground_truth_inputs"] = gt;
  }
  record["precision"] = to_string(o.precision);  // of the encoders and refinements (precision.hpp)
  record["device"] = device_record(o.device);    // device.cpp: name, kind, GPU, driver, CUDA/cuDNN versions
  record["versions"] = {{"ovseg", ovseg_version()}, {"libtorch", TORCH_VERSION}, {"git_commit", ovseg_git_commit()}};
  record["metrics"] = harness::metrics_to_json(m, class_names);
  record["mIoU"] = std::isnan(m.miou) ? json(nullptr) : json(m.miou);
  record["confusion_matrix"] = t.cm.to_json();
  if (t.boundary_ok)
    record["boundary"] = boundary_json(t.boundary_cm);
  else
    warnings.push_back("resumed from a checkpoint without the boundary band's counts: no boundary metric");
  record["timings"] = {{"total_s", total_s},
                       {"per_image_ms", t.done_ids.empty() ? 0.0 : 1000.0 * total_s / t.done_ids.size()},
                       {"per_node_ms", t.node_ms},
                       {"resumed_images", resumed_images}};
  record["warnings"] = warnings;
  record["qualitative"] = merge_qualitative({t.qualitative});  // pool images in pool order (qualitative_pool.hpp)
  return record;
}

}  // namespace

EvalOutcome run_eval(const Graph& graph, const EvalOptions& o) {
  const Protocol protocol = parse_protocol(graph.spec);
  check_request(o);
  auto ds = harness::make_dataset(o.dataset, o.data_root, o.split);
  if (!ds->has_images())
    throw std::runtime_error("data set '" + ds->name() + "' at " + o.data_root + " has no image files");
  check_dataset_settings(graph, *ds);
  const json vocabulary = vocabulary_json(*ds);
  const harness::ZeroShotSplit zero_shot = o.zero_shot ? *o.zero_shot : harness::declared_zero_shot_split(*ds);
  harness::unseen_mask(zero_shot, ds->display_class_names());  // a bad split fails before any image runs
  const ImageSelection selection = select_images(*ds, o);
  const RunIdentity id = run_identity(graph, *ds, vocabulary, zero_shot, o);
  const RunKey& key = id.key;

  EvalOutcome out;
  out.record_path = record_path(o.results_dir, key);
  const std::string ckpt_path = partial_path(o.results_dir, key);
  // A finished run is not redone: reruns (sweeps, requeued cluster jobs)
  // find their record by its key.
  if (!o.force) {
    if (auto stored = stored_record(out.record_path, zero_shot)) {
      out.record = std::move(*stored);
      out.already_stored = true;
      return out;
    }
  }
  const std::vector<std::string> class_names = ds->display_class_names();
  Tally tally(ds->num_classes());
  out.resumed_images = resume_from_checkpoint(tally, ckpt_path, key, o);

  // Before any image runs: an unwritable folder should not cost a model load.
  if (!o.save_predictions.empty()) create_output_folder(o.save_predictions, "--save-predictions");
  ProtocolRunner runner(graph, protocol,
                        std::make_shared<Executor>(graph, o.device, ds->class_names(), zero_shot.unseen, o.precision));
  std::vector<std::string> pipeline_classes;
  std::vector<int64_t> remap;  // [vocabulary] map: pipeline class -> data-set class

  Progress progress(o.progress, selection.indices.size());
  const auto t0 = std::chrono::steady_clock::now();
  const double cpu0 = process_cpu_seconds();
  const auto seconds_since_start = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  size_t since_ckpt = 0;
  // Images wait in the batcher until all their windows have run: their
  // samples wait here, in the same order, and are scored (and checkpointed)
  // one by one as their predictions come out.
  WindowBatcher batcher(runner, o.batching);
  std::deque<std::pair<size_t, harness::Sample>> waiting;
  const auto score = [&](Prediction& p) {
    const size_t i = waiting.front().first;
    const harness::Sample s = std::move(waiting.front().second);
    waiting.pop_front();
    const std::string id_i = ds->id(i);
    if (pipeline_classes.empty() && !p.class_names.empty()) {
      pipeline_classes = p.class_names;
      remap = check_vocabulary(pipeline_classes, *ds, graph.spec);  // throws: nothing is stored
    }
    if (!remap.empty()) {
      const at::Tensor table = at::tensor(remap, at::kLong);
      p.labels = table.index_select(0, p.labels.flatten().clamp(0, static_cast<int64_t>(remap.size()) - 1))
                     .view(p.labels.sizes());
    }
    at::Tensor pred32 = p.labels.to(at::kInt).contiguous();
    cv::Mat pred(s.label.rows, s.label.cols, CV_32S, pred32.data_ptr<int32_t>());
    try {
      tally.cm.add(s.label, pred, ds->ignore_index());
      harness::add_boundary(tally.boundary_cm, s.label, pred, ds->ignore_index());
    } catch (const std::out_of_range& e) {
      throw std::runtime_error("image '" + id_i + "': a predicted class is not a class of '" + ds->name() + "' (" +
                               std::to_string(ds->num_classes()) + " classes): " + e.what());
    }
    if (const auto it = selection.pool_rank.find(i); it != selection.pool_rank.end())
      tally.qualitative["images"].push_back(
          qualitative_entry(id_i, it->second, s.image, s.label, pred, ds->ignore_index(), ds->num_classes()));
    if (!o.save_predictions.empty()) {
      const fs::path f = fs::path(o.save_predictions) / (id_i + ".png");
      create_output_folder(f.parent_path().string(), "--save-predictions");
      write_label_png(f.string(), p.labels);
    }
    for (const auto& t : p.timings) tally.node_ms[t.node] += t.milliseconds;
    tally.done_ids.push_back(id_i);
    tally.done.insert(id_i);
    ++out.new_images;
    const bool ckpt = ++since_ckpt >= static_cast<size_t>(std::max(1, o.checkpoint_every));
    if (ckpt) {
      write_checkpoint(tally, ckpt_path, key, seconds_since_start());
      since_ckpt = 0;
    }
    progress.update(tally.done_ids.size(), out.new_images, seconds_since_start(), ckpt);
    if (o.kill_after >= 0 && static_cast<long>(out.new_images) >= o.kill_after) {
      write_checkpoint(tally, ckpt_path, key, seconds_since_start());
      std::raise(SIGKILL);
    }
  };
  for (size_t i : selection.indices) {
    if (tally.done.count(ds->id(i))) continue;
    waiting.emplace_back(i, ds->sample(i, true));
    for (Prediction& p : queue_image(batcher, runner, waiting.back().second, protocol, class_names)) score(p);
  }
  for (Prediction& p : batcher.flush()) score(p);
  progress.finish();
  const double total_s = tally.previous_seconds + seconds_since_start();

  json record = build_record(graph, o, *ds, id, vocabulary, protocol, runner, tally, pipeline_classes, {},
                             out.resumed_images, total_s);
  record["timings"]["process_cpu_s"] = process_cpu_seconds() - cpu0;  // this invocation's images, all threads
  record["batching"] = batching_json(o.batching, batcher.stats());
  apply_zero_shot(record, zero_shot);
  write_json_atomic(out.record_path, record);
  std::error_code ec;
  fs::remove(ckpt_path, ec);  // the record replaces the checkpoint
  out.record = std::move(record);
  return out;
}

json merge_records(const std::vector<json>& records) {
  if (records.empty()) throw std::invalid_argument("merge: no records given");
  const json& first = records.front();
  const auto name = [](const json& r) { return r.value("_file", r.value("key", std::string("?"))); };
  const auto field = [](const json& r, const std::vector<std::string>& path) {
    const json* j = &r;
    for (const auto& p : path) {
      if (!j->is_object() || !j->contains(p)) return json(nullptr);
      j = &(*j)[p];
    }
    return *j;
  };
  const std::vector<std::pair<std::string, std::vector<std::string>>> must_match = {
      {"pipeline.sha256", {"pipeline", "sha256"}},
      {"protocol", {"protocol"}},
      {"dataset.name", {"dataset", "name"}},
      {"dataset.split", {"dataset", "split"}},
      {"selection.limit", {"selection", "limit"}},
      {"selection.shard.count", {"selection", "shard", "count"}},
      {"models (files and sha256)", {"models"}},
      {"vocabulary.sha256", {"vocabulary", "sha256"}},
      {"confusion_matrix.num_classes", {"confusion_matrix", "num_classes"}}};
  for (const auto& r : records) {
    if (r.value("kind", "") != kRecordKind)
      throw std::invalid_argument("merge: " + name(r) + " is not an ovseg eval record");
    for (const auto& [label, path] : must_match)
      if (field(r, path) != field(first, path))
        throw std::invalid_argument("merge: " + label + " differs: " + name(first) + " has " +
                                    field(first, path).dump() + ", " + name(r) + " has " + field(r, path).dump());
    if (record_key(r).precision != record_key(first).precision)  // a record without it ran in fp32
      throw std::invalid_argument("merge: precision differs: " + name(first) + " has " + record_key(first).precision +
                                  ", " + name(r) + " has " + record_key(r).precision);
  }
  const int count = first.at("selection").at("shard").at("count").get<int>();
  std::vector<int> seen(static_cast<size_t>(count), 0);
  for (const auto& r : records) {
    const int i = r.at("selection").at("shard").at("index").get<int>();
    if (i < 0 || i >= count) throw std::invalid_argument("merge: " + name(r) + " has a bad shard index");
    if (seen[i]++)
      throw std::invalid_argument("merge: shard " + std::to_string(i) + "/" + std::to_string(count) + " given twice");
  }
  for (int i = 0; i < count; ++i)
    if (!seen[i])
      throw std::invalid_argument("merge: shard " + std::to_string(i) + "/" + std::to_string(count) + " is missing (" +
                                  std::to_string(records.size()) + " of " + std::to_string(count) + " given)");

  harness::ConfusionMatrix cm = harness::ConfusionMatrix::from_json(first.at("confusion_matrix"));
  // The boundary band's counts merge like the whole image's when every
  // shard has them under the same definition.
  bool boundary = true;
  for (const auto& r : records)
    boundary = boundary && r.contains("boundary") &&
               r.at("boundary").value("dilation_ratio", -1.0) == first.at("boundary").value("dilation_ratio", -2.0);
  harness::ConfusionMatrix boundary_cm = boundary ? harness::ConfusionMatrix::from_json(
                                                        first.at("boundary").at("confusion_matrix"))
                                                  : harness::ConfusionMatrix();
  std::map<std::string, double> node_ms;
  double total_s = 0;
  std::vector<std::string> ids, sources, warnings;
  std::vector<json> qualitative;
  for (size_t k = 0; k < records.size(); ++k) {
    const json& r = records[k];
    if (k > 0) cm.merge(harness::ConfusionMatrix::from_json(r.at("confusion_matrix")));
    if (k > 0 && boundary)
      boundary_cm.merge(harness::ConfusionMatrix::from_json(r.at("boundary").at("confusion_matrix")));
    for (const auto& [node, ms] : r.at("timings").at("per_node_ms").items()) node_ms[node] += ms.get<double>();
    total_s += r.at("timings").at("total_s").get<double>();
    for (const auto& id : r.at("selection").at("ids")) ids.push_back(id.get<std::string>());
    sources.push_back(r.value("key", name(r)));
    for (const auto& w : r.value("warnings", json::array())) warnings.push_back(w.get<std::string>());
    qualitative.push_back(r.value("qualitative", json()));
  }
  std::sort(warnings.begin(), warnings.end());
  warnings.erase(std::unique(warnings.begin(), warnings.end()), warnings.end());

  json merged = first;
  merged.erase("_file");
  RunKey key = record_key(first);
  key.shard_index = 0;
  key.shard_count = 1;
  const harness::SegmentationMetrics m = harness::compute_metrics(cm);
  merged["key"] = key.stem();
  merged["date"] = utc_now_iso8601();
  merged["selection"]["shard"] = {{"index", 0}, {"count", 1}};
  merged["selection"]["num_images"] = ids.size();
  merged["selection"]["ids"] = ids;
  merged["merged_from"] = sources;
  merged["metrics"] = harness::metrics_to_json(m,
                                               first.at("dataset").at("class_names").get<std::vector<std::string>>());
  merged["mIoU"] = std::isnan(m.miou) ? json(nullptr) : json(m.miou);
  merged["confusion_matrix"] = cm.to_json();
  if (boundary) {
    merged["boundary"] = boundary_json(boundary_cm);
  } else if (merged.contains("boundary")) {
    merged.erase("boundary");
    warnings.push_back("not every shard has the boundary band's counts: no boundary metric");
  }
  merged["qualitative"] = merge_qualitative(qualitative);
  // Shards run side by side: total_s is machine time, not wall time.
  merged["timings"] = {{"total_s", total_s},
                       {"per_image_ms", ids.empty() ? 0.0 : 1000.0 * total_s / ids.size()},
                       {"per_node_ms", node_ms},
                       {"resumed_images", 0}};
  merged["warnings"] = warnings;
  if (first.contains("zero_shot")) {
    const json& z = first.at("zero_shot");
    apply_zero_shot(merged, {z.at("unseen").get<std::vector<std::string>>(), z.value("source", "")});
  }
  return merged;
}

}  // namespace ovseg
