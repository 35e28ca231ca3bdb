// `ovseg train` end to end on a small generated world: the run folder, exact
// resume after a kill, only the declared parameters change, zero-shot
// vocabulary, evaluation with the trained weights, and the errors.
#include <ATen/ATen.h>
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "ovseg/host/executor.hpp"
#include "ovseg/host/graph.hpp"
#include "ovseg/models/checkpoint_io.hpp"
#include "ovseg/models/clip_model.hpp"
#include "ovseg/models/sha256.hpp"
#include "train_test_util.hpp"

using namespace ovseg;
using namespace train_test;
using nlohmann::json;

namespace {

json read_json(const std::string& path) { return json::parse(read_file(path)); }

// Lines of a CSV, each cut to its first `columns` fields.
std::vector<std::string> csv_columns(const std::string& path, int columns) {
  std::vector<std::string> out;
  std::istringstream in(read_file(path));
  std::string line;
  while (std::getline(in, line)) {
    size_t pos = 0;
    for (int c = 0; c < columns && pos != std::string::npos; ++c) pos = line.find(',', pos + 1);
    out.push_back(line.substr(0, pos));
  }
  return out;
}

}  // namespace

TEST_CASE("ovseg train: the run folder (weights, run.json, curves, validation, plot)") {
  TempDir dir;
  write_file(dir.file("toy.toml"), toy_pipeline());
  // No zero-shot split: toy_head's weights depend on the class list, so it
  // could not be validated on classes it never had.
  const auto r = run_cli(train_args(dir.file("toy.toml"), dir.file("run"), "--set 'train.unseen_classes=[]'"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const json run = read_json(dir.file("run/run.json"));
  CHECK(run["kind"] == "ovseg-train-run");
  CHECK(run["steps"] == 12);
  const int64_t k = static_cast<int64_t>(world_classes().size());
  CHECK(run["dataset"]["classes"].size() == static_cast<size_t>(k));
  CHECK(run["trainable_parameters"] == k * 3 + k);
  CHECK(run["frozen_parameters_unchanged"] == true);
  CHECK(run["peak_memory_mb"].get<double>() > 0);
  CHECK(run["weights"]["sha256"] == models::sha256_file(dir.file("run/weights.safetensors")));
  REQUIRE(run["val"].size() == 2);  // after 6 and 12 steps
  CHECK(run["val"][1]["step"] == 12);
  CHECK(run["val"][1]["mIoU"].is_number());
  // Every step in curves.csv, with the auxiliary loss as its own term.
  const auto curves = csv_columns(dir.file("run/curves.csv"), 7);
  REQUIRE(curves.size() == 13);
  CHECK(contains(read_file(dir.file("run/curves.csv")), "loss.head.l2"));
  CHECK(contains(read_file(dir.file("run/curves.csv")), "loss.ce"));
  const cv::Mat plot = cv::imread(dir.file("run/curves.png"));
  CHECK(plot.cols == 900);
  CHECK(plot.rows == 3 * 260);
  // The weights: trainable parameters and the buffer, nothing else.
  const auto sd = models::load_safetensors(dir.file("run/weights.safetensors"));
  CHECK(sd.size() == 3);
  CHECK(sd.at("head.calls").item<float>() == 12.0f);  // one training forward per step
  // The same command again finds the finished run.
  const auto again = run_cli(train_args(dir.file("toy.toml"), dir.file("run"), "--set 'train.unseen_classes=[]'"));
  CHECK(again.exit_code == 0);
  CHECK(contains(again.output, "already trained"));
}

TEST_CASE("ovseg train: killed mid-run and rerun gives bit-identical weights and curves") {
  TempDir dir;
  write_file(dir.file("qv.toml"), qv_pipeline());
  const auto whole = run_cli(train_args(dir.file("qv.toml"), dir.file("whole")));
  INFO(whole.output);
  REQUIRE(whole.exit_code == 0);
  const auto killed = run_cli(train_args(dir.file("qv.toml"), dir.file("resumed")), "OVSEG_TRAIN_KILL_AFTER=6");
  CHECK(killed.exit_code == 128 + 9);
  CHECK_FALSE(fs::exists(dir.file("resumed/weights.safetensors")));
  // The leftover checkpoint is not resumed under another learning rate: the
  // refusal lists the differing values and the fix, and leaves it intact.
  const auto other_lr = run_cli(train_args(dir.file("qv.toml"), dir.file("resumed"), "--set train.lr=0.5"));
  CHECK(other_lr.exit_code == 1);
  CHECK(contains(other_lr.output, "checkpoint of another run"));
  CHECK(contains(other_lr.output, "trainer.lr: checkpoint has "));
  CHECK(contains(other_lr.output, "this run has 0.5"));
  CHECK(contains(other_lr.output, "--force"));
  const auto resumed = run_cli(train_args(dir.file("qv.toml"), dir.file("resumed")));
  INFO(resumed.output);
  REQUIRE(resumed.exit_code == 0);
  CHECK(read_json(dir.file("resumed/run.json"))["resumed_at_step"] == 6);
  CHECK(models::sha256_file(dir.file("whole/weights.safetensors")) ==
        models::sha256_file(dir.file("resumed/weights.safetensors")));
  // step, loss, lr, grad_norm: the same numbers at every step.
  CHECK(csv_columns(dir.file("whole/curves.csv"), 4) == csv_columns(dir.file("resumed/curves.csv"), 4));
  CHECK(read_file(dir.file("whole/val.csv")) == read_file(dir.file("resumed/val.csv")));
}

TEST_CASE("q/v fine-tuning: only q_proj and v_proj change; every frozen tensor stays bit-identical") {
  TempDir dir;
  write_file(dir.file("qv.toml"), qv_pipeline());
  const auto r = run_cli(train_args(dir.file("qv.toml"), dir.file("run")));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(read_json(dir.file("run/run.json"))["frozen_parameters_unchanged"] == true);

  auto original = models::ClipModel::load(kEmbeddedClip);
  const int64_t layers = original->geometry().vision_layers, C = original->geometry().vision_width;
  const auto sd = models::load_safetensors(dir.file("run/weights.safetensors"));
  CHECK(static_cast<int64_t>(sd.size()) == 2 * layers);
  for (int64_t i = 0; i < layers; ++i) {
    const std::string p = "clip.visual.transformer.resblocks." + std::to_string(i) + ".attn.";
    const at::Tensor packed = original->vision_block(i).in_proj_w;
    REQUIRE(sd.count(p + "q_proj_weight"));
    REQUIRE(sd.count(p + "v_proj_weight"));
    CHECK_FALSE(sd.at(p + "q_proj_weight").equal(packed.narrow(0, 0, C)));
    CHECK_FALSE(sd.at(p + "v_proj_weight").equal(packed.narrow(0, 2 * C, C)));
  }
  // Loaded back into the pipeline: trained tensors as stored, every other
  // vision tensor exactly the checkpoint's.
  const PluginCatalog catalog = discover_plugins({OVSEG_TEST_PLUGIN_DIR});
  Graph g = build_graph(load_pipeline_spec(dir.file("qv.toml"),
                                           {parse_override("nodes.clip.weights=\"" +
                                                           dir.file("run/weights.safetensors") + "\"")}),
                        catalog);
  Executor ex(g, "cpu");
  auto reference = original->clone();
  reference->split_vision_in_proj();
  std::map<std::string, at::Tensor> expected;
  for (const auto& [name, t] : reference->vision_tensors()) expected["clip." + name] = t;
  int frozen = 0, trained = 0;
  for (const auto& t : ex.learnable_tensors()) {
    if (t.trainable) {
      CHECK(t.tensor.equal(sd.at(t.key())));
      ++trained;
    } else {
      CHECK_MESSAGE(t.tensor.equal(expected.at(t.key())), t.key());
      ++frozen;
    }
  }
  CHECK(trained == 2 * layers);
  CHECK(frozen == static_cast<int>(expected.size()) - 2 * layers);
}

TEST_CASE("zero-shot: unseen names never reach the graph, unseen pixels are ignored; eval reports seen/unseen/hIoU") {
  TempDir dir;
  const auto classes = world_classes();
  const int64_t k = static_cast<int64_t>(classes.size());
  const std::string u1 = classes[1], u2 = classes.back();
  std::string toml = toy_pipeline();
  toml.insert(toml.find("[train]\n") + 8, "unseen_classes = [\"" + u1 + "\", \"" + u2 + "\"]\n");
  write_file(dir.file("toy.toml"), toml);
  const auto r = run_cli(train_args(dir.file("toy.toml"), dir.file("run")));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const json run = read_json(dir.file("run/run.json"));
  CHECK(run["dataset"]["unseen_classes"] == json({u1, u2}));
  CHECK(run["dataset"]["seen_classes"].size() == static_cast<size_t>(k - 2));
  // toy_head has one channel per vocabulary class: it saw only the seen ones.
  CHECK(run["trainable_parameters"] == (k - 2) * 3 + (k - 2));
  // A head with a weight row per class cannot be evaluated on unseen ones.
  CHECK(run["val"].empty());
  CHECK(contains(run["val_skipped"].get<std::string>(), "depend on the class list"));

  // Evaluated on all classes, the seen-only head does not fit, and says so.
  const auto mismatch = run_cli("eval '" + dir.file("toy.toml") + "' --weights '" +
                                dir.file("run/weights.safetensors") + "' --dataset world --data-root '" +
                                small_world() + "' --results '" + dir.file("res") + "' --plugin-dir '" + kToyPlugins +
                                "' --quiet");
  CHECK(mismatch.exit_code == 1);
  CHECK(contains(mismatch.output,
                 "has shape (" + std::to_string(k - 2) + "), the stage's has (" + std::to_string(k) + ")"));

  // A pipeline that names every class itself cannot train zero-shot.
  std::string named = qv_pipeline();
  named.insert(named.find("[train]\n") + 8, "unseen_classes = [\"" + u1 + "\"]\n");
  std::string list;
  for (const auto& c : classes) list += (list.empty() ? "\"" : ", \"") + c + "\"";
  named.insert(named.find("cache = false\n"), "class_names = [" + list + "]\n");
  write_file(dir.file("named.toml"), named);
  const auto refused = run_cli(train_args(dir.file("named.toml"), dir.file("named_run")));
  CHECK(refused.exit_code == 1);
  CHECK(contains(refused.output, "let the text stage take the data set's vocabulary"));
}

TEST_CASE("zero-shot q/v run evaluated with --weights: seen/unseen/hIoU, and the record cites the weights' sha256") {
  TempDir dir;
  const auto classes = world_classes();
  const std::string u1 = classes[1], u2 = classes.back();
  std::string toml = qv_pipeline();
  toml.insert(toml.find("[train]\n") + 8, "unseen_classes = [\"" + u1 + "\", \"" + u2 + "\"]\n");
  write_file(dir.file("qv.toml"), toml);
  const auto r = run_cli(train_args(dir.file("qv.toml"), dir.file("run")));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const json run = read_json(dir.file("run/run.json"));
  REQUIRE(run["val"].size() == 2);
  CHECK(run["val"][1]["hIoU"].is_number());
  CHECK(run["val"][1]["mIoU_unseen"].is_number());
  const std::string eval = "eval '" + dir.file("qv.toml") + "' --dataset world --data-root '" + small_world() +
                           "' --results '" + dir.file("res") + "' --quiet --unseen '" + u1 + "," + u2 + "'";
  const auto plain = run_cli(eval);
  const auto trained = run_cli(eval + " --weights '" + dir.file("run/weights.safetensors") + "'");
  INFO(plain.output << trained.output);
  REQUIRE(plain.exit_code == 0);
  REQUIRE(trained.exit_code == 0);
  CHECK(contains(trained.output, "hIoU"));
  std::vector<json> records;
  for (const auto& f : fs::directory_iterator(dir.file("res"))) records.push_back(read_json(f.path().string()));
  REQUIRE(records.size() == 2);  // two keys: the weights are part of the pipeline
  const json& with = records[0]["models"].dump().find("weights") != std::string::npos ? records[0] : records[1];
  const json& without = &with == &records[0] ? records[1] : records[0];
  bool cited = false;
  for (const auto& m : with["models"])
    cited |= m["param"] == "weights" && m["sha256"] == models::sha256_file(dir.file("run/weights.safetensors"));
  CHECK(cited);
  CHECK(with["zero_shot"]["unseen"] == json({u1, u2}));
  CHECK(with["mIoU"] != without["mIoU"]);
  // The table shows the zero-shot columns.
  const auto table = run_cli("table --results '" + dir.file("res") + "'");
  CHECK(contains(table.output, "world seen"));
  CHECK(contains(table.output, "world hIoU"));
}

TEST_CASE("ovseg train: refuses another recipe in the same folder, an unknown loss, nothing to train") {
  TempDir dir;
  write_file(dir.file("toy.toml"), toy_pipeline());
  REQUIRE(run_cli(train_args(dir.file("toy.toml"), dir.file("run"))).exit_code == 0);
  const auto other = run_cli(train_args(dir.file("toy.toml"), dir.file("run"), "--set train.lr=0.5"));
  CHECK(other.exit_code == 1);
  CHECK(contains(other.output, "records another run"));
  CHECK(contains(other.output, "lr: checkpoint has"));  // names what differs
  CHECK(contains(other.output, "this run has 0.5"));
  const auto forced = run_cli(train_args(dir.file("toy.toml"), dir.file("run"), "--set train.lr=0.5 --force"));
  CHECK(forced.exit_code == 0);

  // Weights of another pipeline's nodes are refused by name.
  write_file(dir.file("qv.toml"), qv_pipeline());
  const auto foreign = run_cli("eval '" + dir.file("qv.toml") + "' --dataset world --data-root '" + small_world() +
                               "' --weights '" + dir.file("run/weights.safetensors") + "' --results '" +
                               dir.file("res") + "' --quiet");
  CHECK(foreign.exit_code == 1);
  CHECK(contains(foreign.output, "holds node 'head', which pipeline"));

  const auto loss = run_cli(train_args(dir.file("toy.toml"), dir.file("run2"), "--set train.losses.head.l3=1"));
  CHECK(loss.exit_code == 1);
  CHECK(contains(loss.output, "unknown loss"));
  CHECK(contains(loss.output, "head.l2"));

  write_file(dir.file("frozen.toml"), toy_pipeline());
  const auto nothing = run_cli(
      train_args(dir.file("frozen.toml"), dir.file("run3"), "--set 'nodes.head.trainable=[]'"));
  CHECK(nothing.exit_code == 1);
  CHECK(contains(nothing.output, "nothing to train"));
}

TEST_CASE("data-parallel: 2 ranks train the model that accumulate = 2 trains in one process") {
  TempDir dir;
  write_file(dir.file("toy.toml"), toy_pipeline());
  const auto two = run_cli(train_args(dir.file("toy.toml"), dir.file("ranks"), "--ranks 2 --set train.val_images=0"));
  INFO(two.output);
  REQUIRE(two.exit_code == 0);
  const auto one = run_cli(
      train_args(dir.file("toy.toml"), dir.file("accum"), "--set train.accumulate=2 --set train.val_images=0"));
  REQUIRE(one.exit_code == 0);
  CHECK(read_json(dir.file("ranks/run.json"))["ranks"] == 2);
  const auto a = models::load_safetensors(dir.file("ranks/weights.safetensors"));
  const auto b = models::load_safetensors(dir.file("accum/weights.safetensors"));
  for (const char* key : {"head.proj.weight", "head.proj.bias"}) {
    CHECK(a.at(key).allclose(b.at(key), 1e-5, 1e-6));
    CHECK_FALSE(a.at(key).equal(at::zeros_like(a.at(key))));
  }
  // The rendezvous file is gone; only rank 0 wrote the folder.
  for (const auto& f : fs::directory_iterator(dir.file("ranks")))
    CHECK_FALSE(contains(f.path().filename().string(), ".ranks."));
  // A batch that does not split over the ranks is refused.
  const auto odd = run_cli(train_args(dir.file("toy.toml"), dir.file("odd"), "--ranks 3"));
  CHECK(odd.exit_code != 0);
  CHECK(contains(odd.output, "not a multiple of ranks x accumulate"));
}

TEST_CASE("ground truth as inputs: oracle rows under eval (recorded as such), instances under train, none under run") {
  TempDir dir;
  const std::string common = "[protocol]\nshort_side = 64\nwindow = 32\nstride = 32\n";
  write_file(dir.file("labels.toml"),
             common + "[nodes.oracle]\nplugin = \"label_oracle\"\ninputs = { labels = \"input.labels\" }\n");
  write_file(dir.file("instances.toml"),
             common +
                 "[nodes.oracle]\nplugin = \"instance_oracle\"\ninputs = { instances = \"input.instances\" }\n"
                 "[train]\nsteps = 3\nbatch = 2\nval_images = 0\n[train.losses]\n\"oracle.masks\" = 1.0\n"
                 "[train.augment]\ncrop = 32\n");
  const std::string eval = " --dataset world --data-root '" + small_world() + "' --results '" + dir.file("res") +
                           "' --plugin-dir '" + kToyPlugins + "' --quiet";
  const auto labels = run_cli("eval '" + dir.file("labels.toml") + "'" + eval);
  INFO(labels.output);
  REQUIRE(labels.exit_code == 0);
  CHECK(contains(labels.output, "mIoU 100.00"));
  const auto instances = run_cli("eval '" + dir.file("instances.toml") + "'" + eval);
  INFO(instances.output);
  REQUIRE(instances.exit_code == 0);
  for (const auto& f : fs::directory_iterator(dir.file("res"))) {
    const json r = read_json(f.path().string());
    if (r["pipeline"]["name"] == "labels") CHECK(r["ground_truth_inputs"] == json({"labels"}));
    if (r["pipeline"]["name"] != "instances") continue;
    CHECK(r["ground_truth_inputs"] == json({"instances"}));
    // Every object class painted from its own instances: IoU 100 where present.
    int things = 0;
    for (const auto& c : r["metrics"]["per_class"])
      if (c["gt_pixels"].get<int64_t>() > 0 && c["pred_pixels"].get<int64_t>() == c["gt_pixels"].get<int64_t>())
        ++things;
    CHECK(things >= 3);
  }
  // Under train the crops' instances arrive with their classes.
  const auto trained = run_cli(train_args(dir.file("instances.toml"), dir.file("run")));
  INFO(trained.output);
  REQUIRE(trained.exit_code == 0);
  CHECK(std::stod(csv_columns(dir.file("run/curves.csv"), 2).back().substr(2)) >= 0);
  // `ovseg run` has no ground truth, and says so.
  std::string image;
  for (const auto& f : fs::directory_iterator(small_world() + "/val/images")) image = f.path().string();
  const auto run = run_cli("run '" + dir.file("labels.toml") + "' --image '" + image + "' --out '" + dir.file("out") +
                           "' --plugin-dir '" + kToyPlugins + "'");
  CHECK(run.exit_code == 1);
  CHECK(contains(run.output, "exists only under `ovseg train` and `ovseg eval`"));
}
