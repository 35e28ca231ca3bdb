// `ovseg models`: the zoo and what is in the local cache.
// `ovseg fetch-model NAME`: download one entry with curl, check its sha256.
#include <filesystem>
#include <iomanip>
#include <iostream>

#include "commands.hpp"
#include "ovseg/models/model_zoo.hpp"
#include "ovseg/sdk/data_dir.hpp"
#include "ovseg/sdk/diagnostics.hpp"

namespace ovseg::cli {

namespace {

int run_models(const ParsedArgs&) {
  namespace fs = std::filesystem;
  std::cout << "model folder: " << models::model_dir() << "  (OVSEG_MODEL_DIR)\n";
  // Where the shipped models are read from: found relative to this binary.
  try {
    const std::string data = data_dir();  // before printing: it may throw
    std::cout << "data folder:  " << data << "  (OVSEG_DATA_DIR; shipped models, pipelines)\n\n";
  } catch (const std::exception& e) {
    std::cout << "data folder:  missing: " << e.what() << "\n\n";
  }
  for (const auto& e : models::model_zoo()) {
    const fs::path p = fs::path(models::model_dir()) / e.file;
    const char* state = e.format == "embedded" ? "shipped " : fs::is_regular_file(p) ? "present " : "missing ";
    std::cout << std::left << std::setw(22) << e.name << std::setw(30) << e.file << state << e.summary << "\n";
  }
  std::cout << "\nFetch one with `ovseg fetch-model NAME`; any checkpoint path works wherever a name does.\n";
  return 0;
}

int run_fetch(const ParsedArgs& args) {
  const std::string& name = args.positionals[0];
  const models::ZooEntry* e = models::find_zoo_entry(name);
  if (e == nullptr) {
    std::vector<std::string> names;
    for (const auto& z : models::model_zoo()) names.push_back(z.name);
    throw Error({}, "", "no zoo entry named '" + name + "'" + did_you_mean(name, names),
                "run `ovseg models` for the list");
  }
  if (e->format == "embedded") {
    std::cout << e->name << " ships with ovseg: " << models::fetch_model(*e) << "\n";
    return 0;
  }
  std::cout << "fetching " << e->name << " from " << e->url << "\n";
  const std::string path = models::fetch_model(*e);
  std::cout << "ok: " << path << " (sha256 " << e->sha256 << ")\n";
  return 0;
}

}  // namespace

Command models_command() {
  CommandSpec spec;
  spec.name = "models";
  spec.summary = "list the model zoo and which files are in the local cache";
  spec.usage = "";
  return {spec, run_models};
}

Command fetch_model_command() {
  CommandSpec spec;
  spec.name = "fetch-model";
  spec.summary = "download a zoo model with curl and verify its sha256";
  spec.usage = "NAME";
  spec.min_positionals = spec.max_positionals = 1;
  return {spec, run_fetch};
}

}  // namespace ovseg::cli
