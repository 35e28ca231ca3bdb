#include "ovseg/host/demo_spec.hpp"

#include <algorithm>
#include <filesystem>

#include "toml_file.hpp"

namespace fs = std::filesystem;

namespace ovseg {

using detail::relative_to;
using detail::where;

namespace {

int positive_int(const std::string& file, const toml::table& t, const char* key, int fallback) {
  const toml::node* n = t.get(key);
  if (!n) return fallback;
  const auto v = n->value_exact<int64_t>();
  if (!v || *v <= 0 || *v > 1000000)
    throw Error(where(file, *n), "", std::string(key) + " must be a positive integer",
                "e.g. " + std::to_string(fallback));
  return static_cast<int>(*v);
}

}  // namespace

DemoSpec load_demo_spec(const std::string& path) {
  const toml::table root = detail::parse_toml_file(path, "demo");
  detail::check_keys(path, root, "the demo file", {"demo", "run"});
  DemoSpec spec;
  spec.file = path;
  const toml::table* demo = root["demo"].as_table();
  if (!demo) throw Error({path, 1, 1}, "", "no [demo] table", "add [demo] with model = \"...\"");
  detail::check_keys(path, *demo, "[demo]", {"model", "world_version", "world_seed", "val_scenes", "val_size", "set"});
  const auto model = (*demo)["model"].value<std::string>();
  if (!model) throw Error(where(path, *demo), "", "[demo] needs model = \"FILE\"", "name the embedded checkpoint");
  spec.model = relative_to(path, *model);
  if (!fs::is_regular_file(spec.model))
    throw Error(where(path, *demo->get("model")), "", "model " + spec.model + " not found",
                "paths are relative to the demo file");
  if (const toml::node* s = demo->get("world_seed")) {
    const auto v = s->value_exact<int64_t>();
    if (!v || *v < 0) throw Error(where(path, *s), "", "world_seed must be a non-negative integer", "e.g. 2026");
    spec.world_seed = static_cast<uint64_t>(*v);
  }
  spec.world_version = positive_int(path, *demo, "world_version", spec.world_version);
  spec.val_scenes = positive_int(path, *demo, "val_scenes", spec.val_scenes);
  spec.val_size = positive_int(path, *demo, "val_size", spec.val_size);
  spec.common = detail::read_set_overrides(path, *demo);

  const toml::array* runs = root["run"].as_array();
  if (!runs || runs->empty())
    throw Error({path, 1, 1}, "", "no [[run]] entries", "add [[run]] name = ..., pipeline = ...");
  for (const auto& node : *runs) {
    const toml::table* t = node.as_table();
    if (!t) throw Error(where(path, node), "", "[[run]] must be a table", "write [[run]] blocks");
    detail::check_keys(path, *t, "[[run]]", {"name", "pipeline", "set"});
    DemoRun r;
    const auto name = (*t)["name"].value<std::string>();
    const auto pipeline = (*t)["pipeline"].value<std::string>();
    if (!name || !pipeline)
      throw Error(where(path, *t), "",
                  "[[run]] needs name = and pipeline =", "e.g. name = \"maskclip\", pipeline = \"maskclip.toml\"");
    r.name = *name;
    r.pipeline = relative_to(path, *pipeline);
    if (!fs::is_regular_file(r.pipeline))
      throw Error(where(path, *t->get("pipeline")), "", "pipeline " + r.pipeline + " not found",
                  "paths are relative to the demo file");
    for (const auto& other : spec.runs)
      if (other.name == r.name)
        throw Error(where(path, *t->get("name")), "", "run name '" + r.name + "' used twice",
                    "names are table rows; make them unique");
    r.overrides = detail::read_set_overrides(path, *t);
    spec.runs.push_back(std::move(r));
  }
  return spec;
}

std::vector<Override> demo_run_overrides(const DemoSpec& spec, const DemoRun& r, const std::string& class_names_file) {
  auto quoted = [](const std::string& s) {
    std::string q = "\"";
    for (char c : s) q += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
    return q + "\"";
  };
  std::vector<Override> out = {parse_override("pipeline.name=" + quoted(r.name)),
                               parse_override("nodes.clip.model=" + quoted(fs::absolute(spec.model).string())),
                               parse_override("nodes.text.model=" + quoted(fs::absolute(spec.model).string())),
                               parse_override("nodes.text.names_file=" +
                                              quoted(fs::absolute(class_names_file).string()))};
  out.insert(out.end(), spec.common.begin(), spec.common.end());
  out.insert(out.end(), r.overrides.begin(), r.overrides.end());
  return out;
}

}  // namespace ovseg
