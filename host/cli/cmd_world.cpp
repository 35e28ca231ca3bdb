// `ovseg world --out DIR`: writes the procedural scene world (train and val
// splits, class names, captions, instance and part masks, the default
// zero-shot split) in the harness's "folder" layout.
#include <cmath>
#include <iostream>

#include "commands.hpp"
#include "ovseg/world/people.hpp"
#include "ovseg/world/world.hpp"

namespace ovseg::cli {

namespace {

// `--people`: the people world in LIP / CIHP / PASCAL-Person-Part layouts.
int run_people_world(const ParsedArgs& args, const std::string& out) {
  if (args.has("--world-version"))
    throw UsageError("ovseg world: --people draws on world v2 only; drop --world-version");
  const auto count = [&](const char* opt, const char* fallback) {
    return static_cast<int>(parse_count("world", opt, args.get(opt, fallback)));
  };
  const uint64_t seed = static_cast<uint64_t>(parse_count("world", "--seed", args.get("--seed", "0")));
  const int train = count("--train", "2000"), val = count("--val", "100");
  const auto side = [&](const char* opt, const char* fallback) {
    const int px = count(opt, fallback);
    if (px < 32 || px > 2048)
      throw UsageError(std::string("ovseg world --people: ") + opt + " " + std::to_string(px) +
                       " is outside 32..2048 px");
    return px;
  };
  const int size = side("--size", "96"), val_size = side("--val-size", "128");
  // The object-level world (OUT/world): this share of its scenes has no
  // people, so a contrastive CLIP sees captions without a person word too.
  const double plain_share = parse_real("world", "--plain-share", args.get("--plain-share", "0.5"));
  if (!(plain_share >= 0 && plain_share <= 0.9))
    throw UsageError("ovseg world --people: --plain-share " + args.get("--plain-share") + " is outside 0..0.9");
  const auto plain = [&](int people) {
    return static_cast<int>(std::lround(people * plain_share / (1 - plain_share)));
  };
  const std::string object_root = out + "/world";
  if (train > 0) {
    world::write_people_split(out, "train", train, seed, size, size);
    world::write_people_world_split(object_root, "train", train, plain(train), seed, size, size);
  }
  if (val > 0) {
    world::write_people_split(out, "val", val, seed, val_size, val_size);
    world::write_people_world_split(object_root, "val", val, plain(val), seed, val_size, val_size);
  }
  std::cout << "wrote the people world to " << out << ": " << train << " train scenes (" << size << " px), " << val
            << " val scenes (" << val_size << " px), seed " << seed << "; read it with --dataset lip --data-root "
            << out << "/lip, cihp (" << out << "/cihp) or pascal_person_part (" << out << "/pascal_person_part)\n"
            << "and the object-level world (world v2's classes + person; " << plain(train) << " + " << plain(val)
            << " scenes without people) with --dataset world --data-root " << object_root << "\n";
  return 0;
}

int run_world(const ParsedArgs& args) {
  if (!args.has("--out")) throw UsageError("ovseg world: --out DIR is required");
  const std::string out = args.get("--out");
  if (args.has("--people")) return run_people_world(args, out);
  if (args.has("--plain-share")) throw UsageError("ovseg world: --plain-share goes with --people");
  const auto count = [&](const char* opt, const char* fallback) {
    return static_cast<int>(parse_count("world", opt, args.get(opt, fallback)));
  };
  const uint64_t seed = static_cast<uint64_t>(parse_count("world", "--seed", args.get("--seed", "0")));
  const int train = count("--train", "20000"), val = count("--val", "100");
  const int version = count("--world-version", std::to_string(world::kLatestWorldVersion).c_str());
  if (version < 1 || version > world::kLatestWorldVersion)
    throw UsageError("ovseg world: --world-version must be 1 or " + std::to_string(world::kLatestWorldVersion));
  world::SceneOptions train_opt, val_opt;
  train_opt.version = val_opt.version = version;
  // Scenes are drawn whole in memory: a side beyond this would fail deep in
  // OpenCV with an out-of-memory assertion.
  constexpr int kMaxSide = 8192;
  const auto side = [&](const char* opt, const char* fallback) {
    const int px = count(opt, fallback);
    if (px < 1 || px > kMaxSide)
      throw UsageError(std::string("ovseg world: ") + opt + " " + std::to_string(px) + " is outside 1.." +
                       std::to_string(kMaxSide) + " px");
    return px;
  };
  train_opt.width = train_opt.height = side("--size", "64");
  val_opt.width = val_opt.height = side("--val-size", "128");
  if (train > 0) world::write_world_split(out, "train", train, seed, train_opt);
  if (val > 0) world::write_world_split(out, "val", val, seed, val_opt);
  std::cout << "wrote " << out << ": " << train << " train scenes (" << train_opt.width << " px), " << val
            << " val scenes (" << val_opt.width << " px), world version " << version << " ("
            << world::world_class_count(version) << " classes, " << world::default_unseen_classes(version).size()
            << " unseen by default), seed " << seed << "\n";
  return 0;
}

}  // namespace

Command world_command() {
  CommandSpec spec;
  spec.name = "world";
  spec.summary = "generate the procedural scene world (images, labels, captions)";
  spec.usage =
      "--out DIR [--train N] [--val N] [--size PX] [--val-size PX] [--seed N] [--world-version 1|2] [--people]";
  spec.options = {
      {"--out", "DIR", "data root to write (read back with --dataset folder --data-root DIR)", false},
      {"--train", "N", "training scenes (default 20000; 0 = none)", false},
      {"--val", "N", "evaluation scenes (default 100; 0 = none)", false},
      {"--size", "PX", "training scene side (default 64)", false},
      {"--val-size", "PX", "evaluation scene side (default 128)", false},
      {"--seed", "N", "world seed (default 0); every scene is a function of it", false},
      {"--world-version", "N", "2 (default): 30 classes with parts; 1: the first 8-class world, byte for byte", false},
      {"--people", "",
       "the people world: human figures in LIP / CIHP / PASCAL-Person-Part layouts (defaults --train 2000 --size 96)",
       false},
      {"--plain-share", "F",
       "--people: share of the object-level world's scenes (DIR/world) without people (default 0.5)", false}};
  spec.details =
      "World v2: 6 stuff classes (grass, water, sand, snow, road, dirt) and 20 objects,\n"
      "each with a typical colour and two-tone pattern; house (roof, door), tree (trunk)\n"
      "and car (wheel) have parts that are classes too. Captions name the visible\n"
      "objects with synonyms, counts and now and then colour, pattern, size and parts.\n"
      "Writes SPLIT/images, labels (8-bit classes), instances and parts (16-bit ids,\n"
      "0 = none), captions.tsv, class_names.txt and unseen_classes.txt (the default\n"
      "zero-shot split). Deterministic for a seed and version.\n"
      "--people: 1-4 articulated figures per scene over world v2 scenes, written as\n"
      "DIR/lip, DIR/cihp and DIR/pascal_person_part in the real data sets' layouts\n"
      "(README \"The people world\"), and as DIR/world, the object-level world: world\n"
      "v2's 30 classes plus person (every figure pixel), captions naming the people\n"
      "(person, man, woman, pedestrian ...) and the scene, interleaved with world v2\n"
      "scenes without people (--plain-share); `--dataset world` and train-clip read it.";
  return {spec, run_world};
}

}  // namespace ovseg::cli
