// `ovseg make-random-sam --preset vit_b --out F`: a SAM checkpoint with random
// weights in the official layout (segment_anything's and MobileSAM's key
// names and shapes), to smoke-test and benchmark where no real weights can be
// downloaded. Its masks are meaningless.
#include <iostream>

#include "commands.hpp"
#include "ovseg/models/checkpoint_io.hpp"
#include "ovseg/models/random_sam.hpp"

namespace ovseg::cli {

namespace {

int run_random_sam(const ParsedArgs& args) {
  if (!args.has("--out")) throw UsageError("ovseg make-random-sam: --out FILE is required");
  const std::string out = args.get("--out");
  models::SamGeometry g;
  try {
    g = models::sam_geometry_preset(args.get("--preset", "vit_b"));
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("ovseg make-random-sam: --preset: ") + e.what());
  }
  const uint64_t seed = static_cast<uint64_t>(parse_count("make-random-sam", "--seed", args.get("--seed", "0")));
  try {
    models::save_checkpoint(out, models::make_random_sam_state_dict(g, seed));
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("ovseg make-random-sam: --out ") + e.what());
  }
  std::cout << "wrote " << out << " (" << g.describe() << ", seed " << seed << ")\n";
  return 0;
}

}  // namespace

Command random_sam_command() {
  CommandSpec spec;
  spec.name = "make-random-sam";
  spec.summary = "write a random-weight SAM checkpoint in the official layout (smoke tests, benchmarks)";
  spec.usage = "--out FILE.{pth,safetensors,pt} [--preset vit_b] [--seed N]";
  spec.options = {{"--out", "FILE",
                   "output: .pth zip state dict (as the official files), .safetensors or .pt TorchScript", false},
                  {"--preset", "NAME", "vit_b (default), vit_l, vit_h, mobile_sam, vit_test, tiny_vit_test, world",
                   false},
                  {"--seed", "N", "random seed (default 0)", false}};
  return {spec, run_random_sam};
}

}  // namespace ovseg::cli
