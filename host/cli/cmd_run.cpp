// `ovseg run PIPELINE.toml --image IMG --out DIR`: one image through a
// pipeline; writes labels.png, overlay.png and logits.npy (K,H,W float32).
#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>

#include "commands.hpp"
#include "ovseg/host/device.hpp"
#include "ovseg/sdk/diagnostics.hpp"
#include "ovseg/host/executor.hpp"
#include "ovseg/host/image_io.hpp"
#include "ovseg/host/protocol.hpp"
#include "ovseg/host/results_store.hpp"
#include "ovseg/sdk/npy.hpp"
#include "ovseg/sdk/synonyms.hpp"

namespace ovseg::cli {

namespace {

// Logits come back at the resolution the pipeline chose; results are written
// at the image's (bilinear for scores, as the harness does).
at::Tensor logits_at_image_size(const at::Tensor& logits, int64_t h, int64_t w) {
  if (logits.size(2) == h && logits.size(3) == w) return logits;
  return at::upsample_bilinear2d(logits, {h, w}, /*align_corners=*/false);
}

int run_run(const ParsedArgs& args) {
  if (!args.has("--image")) throw UsageError("ovseg run: --image IMG is required");
  if (!args.has("--out")) throw UsageError("ovseg run: --out DIR is required");
  const std::string out_dir = args.get("--out");

  PluginCatalog catalog = load_catalog(args);
  Graph graph = build_graph(load_spec(args.positionals[0], args), catalog);
  parse_protocol(graph.spec);  // a knob typo is an error here too, though run does not window
  at::Tensor pixels = load_image(args.get("--image"));
  Executor executor(graph, args.get("--device", "cpu"));
  RunResult result = executor.run(Image{pixels});

  const int64_t h = pixels.size(2), w = pixels.size(3);
  at::Tensor logits = result.logits.logits.to(at::kCPU, at::kFloat);
  expect_shape(logits, {1, -1, -1, -1}, "pipeline output logits " + graph.logits_output.str(graph));
  logits = logits_at_image_size(logits, h, w);
  at::Tensor labels = result.labels.labels.to(at::kCPU, at::kLong);
  if (labels.dim() == 3 && (labels.size(1) != h || labels.size(2) != w))
    labels = at::upsample_nearest2d(labels.unsqueeze(1).to(at::kFloat), {h, w}).squeeze(1).to(at::kLong);
  if (!graph.labels_output) labels = argmax_labels(logits, result.logits.class_names).labels;
  expect_shape(labels, {1, h, w}, "pipeline output labels");

  create_output_folder(out_dir, "--out");
  const auto path = [&](const char* name) { return (std::filesystem::path(out_dir) / name).string(); };
  write_npy(path("logits.npy"), logits[0].contiguous());
  write_label_png(path("labels.png"), labels[0]);
  write_overlay_png(path("overlay.png"), pixels[0], labels[0]);

  const std::vector<std::string> names =
      result.labels.class_names.empty() ? synonym_groups(result.logits.class_names).classes : result.labels.class_names;
  std::cout << "pipeline '" << graph.spec.name << "' on " << args.get("--image") << " (" << w << "x" << h
            << ", " << device_summary() << ")\n";
  double total = 0;
  for (const auto& t : result.timings) {
    std::cout << "  " << std::left << std::setw(16) << t.node << std::right << std::fixed
              << std::setprecision(2) << std::setw(10) << t.milliseconds << " ms\n";
    total += t.milliseconds;
  }
  std::cout << "  total           " << std::setw(10) << total << " ms\n";
  at::Tensor counts = at::bincount(labels.flatten(), {}, static_cast<int64_t>(names.size()));
  std::cout << "class pixel shares:\n";
  for (int64_t k = 0; k < counts.size(0); ++k) {
    const int64_t c = counts[k].item<int64_t>();
    if (c == 0) continue;
    std::cout << "  " << std::setw(3) << k << " " << std::left << std::setw(20)
              << (k < static_cast<int64_t>(names.size()) ? names[k] : "?") << std::right << std::setw(7)
              << std::setprecision(1) << 100.0 * c / labels.numel() << " %\n";
  }
  std::cout << "wrote " << path("labels.png") << ", " << path("overlay.png") << ", " << path("logits.npy")
            << " (logits " << logits.size(1) << "x" << h << "x" << w << " float32)\n";
  return 0;
}

}  // namespace

Command run_command() {
  CommandSpec spec;
  spec.name = "run";
  spec.summary = "segment one image: writes labels.png, overlay.png, logits.npy";
  spec.usage = "PIPELINE.toml --image IMG --out DIR [--set nodes.X.p=V]... [--device DEV]";
  spec.min_positionals = spec.max_positionals = 1;
  spec.options = pipeline_options();
  spec.options.push_back({"--image", "IMG", "the image to segment (PNG, JPEG, ...)", false});
  spec.options.push_back({"--out", "DIR", "output folder (created if missing)", false});
  spec.details =
      "Outputs: labels.png (class index per pixel, 8- or 16-bit grey), overlay.png\n"
      "(palette colours over the image), logits.npy (float32, shape (K,H,W), the\n"
      "pipeline's logits resized bilinearly to the image).\n"
      "run segments the image whole, as given; `ovseg eval` applies the [protocol]\n"
      "(resize, sliding windows, stitching) that evaluations use.";
  return {spec, run_run};
}

}  // namespace ovseg::cli
