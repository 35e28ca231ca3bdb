// `ovseg world --out DIR`: writes the procedural scene world (train and val
// splits, class names, captions) in the harness's "folder" layout.
#include <iostream>

#include "commands.hpp"
#include "ovseg/world/world.hpp"

namespace ovseg::cli {

namespace {

int run_world(const ParsedArgs& args) {
  if (!args.has("--out")) throw UsageError("ovseg world: --out DIR is required");
  const std::string out = args.get("--out");
  const auto count = [&](const char* opt, const char* fallback) {
    return static_cast<int>(parse_count("world", opt, args.get(opt, fallback)));
  };
  const uint64_t seed = static_cast<uint64_t>(parse_count("world", "--seed", args.get("--seed", "0")));
  const int train = count("--train", "20000"), val = count("--val", "100");
  world::SceneOptions train_opt, val_opt;
  train_opt.width = train_opt.height = count("--size", "64");
  val_opt.width = val_opt.height = count("--val-size", "128");
  if (train > 0) world::write_world_split(out, "train", train, seed, train_opt);
  if (val > 0) world::write_world_split(out, "val", val, seed, val_opt);
  std::cout << "wrote " << out << ": " << train << " train scenes (" << train_opt.width << " px), " << val
            << " val scenes (" << val_opt.width << " px), " << world::world_class_count()
            << " classes, seed " << seed << "\n";
  return 0;
}

}  // namespace

Command world_command() {
  CommandSpec spec;
  spec.name = "world";
  spec.summary = "generate the procedural scene world (images, labels, captions)";
  spec.usage = "--out DIR [--train N] [--val N] [--size PX] [--val-size PX] [--seed N]";
  spec.options = {{"--out", "DIR", "data root to write (read back with --dataset folder --data-root DIR)", false},
                  {"--train", "N", "training scenes (default 20000; 0 = none)", false},
                  {"--val", "N", "evaluation scenes (default 100; 0 = none)", false},
                  {"--size", "PX", "training scene side (default 64)", false},
                  {"--val-size", "PX", "evaluation scene side (default 128)", false},
                  {"--seed", "N", "world seed (default 0); every scene is a function of it", false}};
  spec.details =
      "Classes: grass, water, sand (stuff) and circle, square, triangle, star, cross\n"
      "(things), each with synonyms; captions name the visible things with counts,\n"
      "colours and textures, and the stuff they lie on. Deterministic for a seed.";
  return {spec, run_world};
}

}  // namespace ovseg::cli
