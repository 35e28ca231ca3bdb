// Params: typed list getters, choices on string lists (each element checked,
// as `ovseg check` / build_graph and create_stage both validate through
// validate_params), and errors that name the file, line and node.
#include <functional>
#include <string>

#include "ovseg/host/param_validation.hpp"
#include "ovseg/sdk.hpp"

using namespace ovseg;

namespace {

PluginDescriptor listy() {
  return PluginDescriptor("listy", StageKind::Postprocess, "list parameters")
      .param("layers", std::vector<int64_t>{1, 2}, "blocks")
      .range(0, 11)
      .param("weights", std::vector<double>{0.5}, "weights")
      .param("sources", std::vector<std::string>{"rgb"}, "which inputs")
      .choices({"rgb", "depth", "normals"})
      .param("mode", "fast", "speed")
      .choices({"fast", "exact"});
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

SpecValue at_line(ParamValue v, int line) { return SpecValue{std::move(v), {"pipe.toml", line, 11}, false}; }

}  // namespace

TEST_CASE("Params: typed getters for int, float and string lists") {
  const Params p = validate_params(listy(), {{"sources", at_line(std::vector<std::string>{"depth", "rgb"}, 4)}},
                                   "post");
  CHECK(p.get_int_list("layers") == std::vector<int64_t>{1, 2});
  CHECK(p.get_float_list("weights") == std::vector<double>{0.5});
  CHECK(p.get_string_list("sources") == std::vector<std::string>{"depth", "rgb"});
  CHECK(p.node_id() == "post");
  // The wrong getter names the node, the parameter and both types.
  CHECK(error_of([&] { p.get_string_list("layers"); }) ==
        "node 'post': parameter 'layers' is a int list, read as a string list");
  CHECK(error_of([&] { p.get_int("nope"); }) == "node 'post': parameter 'nope' was not declared");
}

TEST_CASE("Params: choices on a string list check each element, naming file, line and node") {
  const std::string e = error_of([] {
    validate_params(listy(), {{"sources", at_line(std::vector<std::string>{"rgb", "dept"}, 7)}}, "post");
  });
  CHECK(e.find("pipe.toml:7:11") != std::string::npos);
  CHECK(e.find("node 'post'") != std::string::npos);
  CHECK(e.find("parameter 'sources' lists \"dept\", not one of rgb, depth, normals") != std::string::npos);
  CHECK(e.find("did you mean 'depth'") != std::string::npos);
  CHECK(e.find("std::get") == std::string::npos);
  // An empty list and a plain string parameter still work as before.
  CHECK(validate_params(listy(), {{"sources", SpecValue{std::vector<std::string>{}, {}, true}}}, "post")
            .get_string_list("sources")
            .empty());
  CHECK(error_of([] {
          validate_params(listy(), {{"mode", at_line(std::string("slow"), 9)}}, "post");
        }).find("parameter 'mode' is \"slow\", not one of fast, exact") != std::string::npos);
  // Ranges on int lists are checked per element too.
  CHECK(error_of([] {
          validate_params(listy(), {{"layers", at_line(std::vector<int64_t>{3, 12}, 5)}}, "post");
        }).find("pipe.toml:5:11") != std::string::npos);
}

TEST_CASE(
    "PluginDescriptor: choices() or range() on a parameter of another type fails when the plugin describes itself") {
  CHECK(error_of([] { PluginDescriptor("p", StageKind::Postprocess, "").param("n", 3, "").choices({"a"}); }) ==
        "plugin 'p': choices() on parameter 'n' of type int; choices apply to string and string list");
  CHECK(error_of([] { PluginDescriptor("p", StageKind::Postprocess, "").param("s", "a", "").range(0, 1); }) ==
        "plugin 'p': range() on parameter 's' of type string; ranges apply to int, float and their lists");
}
