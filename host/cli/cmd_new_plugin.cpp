// `ovseg new-plugin NAME --kind refinement [--out DIR]`: writes DIR/NAME/, a
// plugin project that builds outside this tree against an installed ovseg
// (find_package(ovseg)), with tests that load and run it.
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "commands.hpp"
#include "new_plugin_templates.hpp"
#include "ovseg/sdk/data_dir.hpp"
#include "ovseg/sdk/diagnostics.hpp"
#include "ovseg/sdk/plugin.hpp"

namespace ovseg::cli {

namespace {

namespace fs = std::filesystem;

// snake_case -> CamelCase for the stage class.
std::string class_name(const std::string& name) {
  std::string out;
  bool upper = true;
  for (char c : name) {
    if (c == '_') {
      upper = true;
      continue;
    }
    out += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    upper = false;
  }
  return out;
}

std::string fill(std::string text, const std::string& name, const std::string& world_clip) {
  const std::string cls = class_name(name);
  for (const auto& [key, value] :
       {std::pair<std::string, std::string>{"@NAME@", name}, {"@CLASS@", cls}, {"@WORLD_CLIP@", world_clip}})
    for (size_t at = text.find(key); at != std::string::npos; at = text.find(key, at + value.size()))
      text.replace(at, key.size(), value);
  return text;
}

int run_new_plugin(const ParsedArgs& args) {
  const std::string name = args.positionals[0];
  // A plugin name is a target, a file and a TOML value: lower-case snake case.
  bool valid = !name.empty() && std::islower(static_cast<unsigned char>(name[0]));
  for (char c : name)
    valid &= std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_';
  if (!valid)
    throw UsageError("ovseg new-plugin: '" + name +
                     "' is not a plugin name (lower-case letters, digits and '_', "
                     "starting with a letter)");
  const std::string kind_text = args.get("--kind", "refinement");
  const bool clip = kind_text == "clip-refinement";
  const std::optional<StageKind> kind = clip ? StageKind::Refinement : stage_kind_from_string(kind_text);
  if (!kind)
    throw UsageError(
        "ovseg new-plugin: --kind '" + kind_text +
        "' is not a template (refinement, clip-refinement) or a stage kind (encoder, fusion, postprocess)");
  if (*kind != StageKind::Refinement)
    throw UsageError("ovseg new-plugin: only --kind refinement and clip-refinement have templates so far; for a " +
                     kind_text + " plugin start from one and change the ports (README \"Writing a plugin\")");
  // The CLIP template's pipeline runs on the world CLIP of this ovseg's data folder.
  const std::string world_clip = clip ? data_path("host/models/embedded/world-clip.safetensors") : "";

  const fs::path dir = fs::path(args.get("--out", ".")) / name;
  if (fs::exists(dir))
    throw Error({dir.string(), 0, 0}, "", "already exists; new-plugin never overwrites",
                "choose another --out or NAME");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error({dir.string(), 0, 0}, "", "cannot create the folder: " + ec.message(), "check --out");
  const std::vector<std::pair<std::string, const char*>> files = {
      {"CMakeLists.txt", clip ? kClipRefinementCMakeLists : kRefinementCMakeLists},
      {name + ".cpp", clip ? kClipRefinementSource : kRefinementSource},
      {"test_" + name + ".cpp", clip ? kClipRefinementTest : kRefinementTest},
      {name + ".toml", clip ? kClipRefinementPipeline : kRefinementPipeline}};
  for (const auto& [file, text] : files) {
    std::ofstream out(dir / file, std::ios::binary);
    out << fill(text, name, world_clip);
    if (!out) throw Error({(dir / file).string(), 0, 0}, "", "cannot write", "check the disk and permissions");
  }
  std::cout << "wrote " << dir.string() << "/: CMakeLists.txt, " << name << ".cpp, test_" << name << ".cpp, " << name
            << ".toml\nbuild and test it against an installed ovseg:\n"
            << "  cmake -S " << dir.string() << " -B " << (dir / "build").string()
            << " -DCMAKE_PREFIX_PATH=<ovseg install prefix>\n"
            << "  cmake --build " << (dir / "build").string() << " && ctest --test-dir " << (dir / "build").string()
            << " --output-on-failure\n";
  return 0;
}

}  // namespace

Command new_plugin_command() {
  CommandSpec spec;
  spec.name = "new-plugin";
  spec.summary = "write a plugin project that builds outside this tree (find_package(ovseg))";
  spec.usage = "NAME [--kind refinement|clip-refinement] [--out DIR]";
  spec.min_positionals = spec.max_positionals = 1;
  spec.options = {{"--kind", "KIND",
                   "the template: refinement (tokens, no model) or clip-refinement (CLIP's last block with "
                   "your attention, on ovseg::clip_blocks)",
                   false},
                  {"--out", "DIR", "where the NAME/ folder goes (default: the current folder)", false}};
  spec.details =
      "Writes NAME/CMakeLists.txt, NAME.cpp (a refinement: tokens mixed with their 3x3\n"
      "neighbourhood), test_NAME.cpp (loads the built plugin and runs its stage) and\n"
      "NAME.toml (a pipeline using it, run by the project's ctest through the installed\n"
      "`ovseg`). --kind clip-refinement: NAME.cpp re-runs CLIP's last block with\n"
      "softmax(k k^T s / temperature) attention (<ovseg/clip/refinement_stage.hpp>), its\n"
      "test checks it against the library's k-k block on a random CLIP, NAME.toml runs it\n"
      "on the shipped world CLIP. Install ovseg first: cmake --install build --prefix PREFIX.";
  return {spec, run_new_plugin};
}

}  // namespace ovseg::cli
