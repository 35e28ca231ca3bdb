// `ovseg make-random-clip --preset tiny --out F`: a CLIP checkpoint with
// random weights in a real published layout, to smoke-test pipelines where
// no real weights can be downloaded. Accuracy with it is meaningless.
#include <iostream>

#include "commands.hpp"
#include "ovseg/models/checkpoint_io.hpp"
#include "ovseg/models/clip_checkpoint.hpp"
#include "ovseg/models/random_clip.hpp"

namespace ovseg::cli {

namespace {

int run_random_clip(const ParsedArgs& args) {
  if (!args.has("--out")) throw UsageError("ovseg make-random-clip: --out FILE is required");
  const std::string out = args.get("--out");
  const models::ClipGeometry g = models::clip_geometry_preset(args.get("--preset", "tiny"));
  const uint64_t seed = static_cast<uint64_t>(parse_count("make-random-clip", "--seed", args.get("--seed", "0")));
  models::StateDict sd = models::make_random_clip_state_dict(g, seed);
  if (args.get("--layout", "openai") == "hf" && out.size() > 12 && out.substr(out.size() - 12) == ".safetensors")
    sd = models::openai_to_hf_clip_layout(sd);
  try {
    models::save_checkpoint(out, sd);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("ovseg make-random-clip: --out ") + e.what());
  }
  std::cout << "wrote " << out << " (" << g.describe() << ", seed " << seed << ")\n";
  return 0;
}

}  // namespace

Command random_clip_command() {
  CommandSpec spec;
  spec.name = "make-random-clip";
  spec.summary = "write a random-weight CLIP checkpoint in a real layout (smoke tests)";
  spec.usage = "--out FILE.{pt,safetensors,pth} [--preset tiny] [--seed N] [--layout openai|hf]";
  spec.options = {{"--out", "FILE", "output: .pt TorchScript archive, .safetensors, or .pth zip state dict", false},
                  {"--preset", "NAME", "tiny (default), world, ViT-B/32, ViT-B/16, ViT-L/14, ViT-L/14@336", false},
                  {"--seed", "N", "random seed (default 0)", false},
                  {"--layout", "L", "safetensors key names: openai (default, = open_clip) or hf", false}};
  return {spec, run_random_clip};
}

}  // namespace ovseg::cli
