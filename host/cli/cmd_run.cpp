// `ovseg run PIPELINE.toml --image IMG --out DIR`: one image through a
// pipeline; writes labels.png, overlay.png and logits.npy (K,H,W float32).
#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "commands.hpp"
#include "ovseg/host/device.hpp"
#include "ovseg/sdk/diagnostics.hpp"
#include "ovseg/host/executor.hpp"
#include "ovseg/host/inference.hpp"
#include "ovseg/host/image_io.hpp"
#include "ovseg/host/protocol.hpp"
#include "ovseg/host/results_store.hpp"
#include "ovseg/sdk/npy.hpp"
#include "ovseg/sdk/synonyms.hpp"

namespace ovseg::cli {

namespace {

// logits.npy (K,H,W) at the image size, written strip by strip: a
// 12000x12000 image's 30 class maps are 17 GB as one tensor.
void write_logits_at_image_size(const std::string& path, const at::Tensor& logits, int64_t h, int64_t w) {
  const int64_t k = logits.size(1);
  NpyFloatWriter npy(path, {k, h, w});
  for_each_resized_strip(logits, h, w, [&](int64_t y0, const at::Tensor& strip) {
    for (int64_t c = 0; c < k; ++c) npy.write(c * h * w + y0 * w, strip[0][c]);
  });
  npy.commit();
}

std::string protocol_summary(const Protocol& p, const Prediction& pred, int64_t w, int64_t h) {
  std::ostringstream os;
  if (p.mode == "whole" && p.short_side == 0) return "protocol: the whole image as given (--whole)";
  os << "protocol: " << p.mode;
  if (p.short_side > 0) os << ", short side " << p.short_side << " (long side <= " << p.max_long_side << ")";
  os << ", " << pred.resized_w << "x" << pred.resized_h;
  if (p.mode == "slide")
    os << " in " << pred.num_windows << " windows of " << p.window << " (stride " << p.stride << ")";
  if (p.background_handling()) os << ", prob_thd " << p.prob_thd << ", area_thd " << p.area_thd;
  os << "; labels at " << w << "x" << h;
  return os.str();
}

int run_run(const ParsedArgs& args) {
  if (!args.has("--image")) throw UsageError("ovseg run: --image IMG is required");
  if (!args.has("--out")) throw UsageError("ovseg run: --out DIR is required");
  const std::string out_dir = args.get("--out");

  PluginCatalog catalog = load_catalog(args);
  Graph graph = build_graph(load_spec(args.positionals[0], args), catalog);
  // The same inference path as `ovseg eval`: the pipeline's [protocol]
  // (resize, sliding windows, stitching, background knobs), or with --whole
  // one pass over the image as it is.
  Protocol protocol = parse_protocol(graph.spec);
  if (args.has("--whole")) {
    protocol.mode = "whole";
    protocol.short_side = 0;
  }
  const cv::Mat bgr = read_bgr_image(args.get("--image"));
  const int64_t h = bgr.rows, w = bgr.cols;
  const std::string device = args.get("--device", default_device());
  const Precision precision = precision_arg("run", args);
  ProtocolRunner runner(graph, protocol,
                        std::make_shared<Executor>(graph, device, std::vector<std::vector<std::string>>{},
                                                   std::vector<std::string>{}, precision));
  runner.keep_logits(!args.has("--no-logits"));  // logits.npy needs the stitched logits
  const Prediction pred = runner.predict(preprocess_image(bgr, protocol), static_cast<int>(h), static_cast<int>(w));
  expect_shape(pred.labels, {h, w}, "pipeline output labels");

  create_output_folder(out_dir, "--out");
  const auto path = [&](const char* name) { return (std::filesystem::path(out_dir) / name).string(); };
  const bool logits_file = !args.has("--no-logits");
  if (logits_file) write_logits_at_image_size(path("logits.npy"), pred.logits, h, w);
  write_label_png(path("labels.png"), pred.labels);
  write_overlay_png(path("overlay.png"), bgr, pred.labels);

  const std::vector<std::string>& names = pred.class_names;
  std::cout << "pipeline '" << graph.spec.name << "' on " << args.get("--image") << " (" << w << "x" << h << ", "
            << device_summary() << (precision == Precision::fp32 ? "" : ", " + to_string(precision)) << ")\n"
            << protocol_summary(protocol, pred, w, h) << "\n";
  double total = 0;
  for (const auto& t : pred.timings) {
    std::cout << "  " << std::left << std::setw(16) << t.node << std::right << std::fixed << std::setprecision(2)
              << std::setw(10) << t.milliseconds << " ms\n";
    total += t.milliseconds;
  }
  std::cout << "  total           " << std::setw(10) << total << " ms\n";
  at::Tensor counts = at::bincount(pred.labels.flatten(), {}, static_cast<int64_t>(names.size()));
  std::cout << "class pixel shares:\n";
  for (int64_t k = 0; k < counts.size(0); ++k) {
    const int64_t c = counts[k].item<int64_t>();
    if (c == 0) continue;
    std::cout << "  " << std::setw(3) << k << " " << std::left << std::setw(20)
              << (k < static_cast<int64_t>(names.size()) ? names[k] : "?") << std::right << std::setw(7)
              << std::setprecision(1) << 100.0 * c / pred.labels.numel() << " %\n";
  }
  std::cout << "wrote " << path("labels.png") << ", " << path("overlay.png");
  if (logits_file)
    std::cout << ", " << path("logits.npy") << " (logits " << pred.logits.size(1) << "x" << h << "x" << w
              << " float32)";
  std::cout << "\n";
  return 0;
}

}  // namespace

Command run_command() {
  CommandSpec spec;
  spec.name = "run";
  spec.summary = "segment one image: writes labels.png, overlay.png, logits.npy";
  spec.usage =
      "PIPELINE.toml --image IMG --out DIR [--whole] [--no-logits] [--set nodes.X.p=V]... [--device DEV] [--precision "
      "P]";
  spec.min_positionals = spec.max_positionals = 1;
  spec.options = pipeline_options();
  spec.options.push_back(precision_option());
  spec.options.push_back({"--image", "IMG", "the image to segment (PNG, JPEG, ...)", false});
  spec.options.push_back({"--out", "DIR", "output folder (created if missing)", false});
  spec.options.push_back({"--whole", "",
                          "one pass over the image as given: no resize, no windows (prob_thd / area_thd still apply)",
                          false});
  spec.options.push_back({"--no-logits", "", "do not write logits.npy (K x H x W float32 at the image size)", false});
  spec.details =
      "Outputs: labels.png (class index per pixel, 8- or 16-bit grey), overlay.png\n"
      "(palette colours over the image), logits.npy (float32, shape (K,H,W), the\n"
      "pipeline's logits resized bilinearly to the image).\n"
      "run segments the image as `ovseg eval` does: the pipeline's [protocol]\n"
      "(resize to short_side, sliding windows, stitching, prob_thd / area_thd),\n"
      "then logits resized to the image and argmax'd; --whole runs the graph once\n"
      "on the image as given.";
  return {spec, run_run};
}

}  // namespace ovseg::cli
