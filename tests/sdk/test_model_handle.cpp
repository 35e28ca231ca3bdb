// The typed Model-port handle (sdk/include/ovseg/sdk/model_handle.hpp): a
// reader gets the type it asks for, or one line naming the node, the port,
// the expected and the held type.
#include <functional>
#include <memory>
#include <string>

#include "ovseg/host/map_stage_context.hpp"
#include "ovseg/models/clip_model.hpp"
#include "ovseg/models/sam_model.hpp"
#include "ovseg/sdk.hpp"

using namespace ovseg;

namespace {

struct ToyModel {
  int answer = 42;
};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("ModelHandle: the held type comes back, the same object") {
  auto toy = std::make_shared<ToyModel>();
  const ModelHandle h = ModelHandle::of(toy);
  CHECK(h.holds<ToyModel>());
  CHECK_FALSE(h.holds<int>());
  CHECK(h.get<ToyModel>("here").get() == toy.get());
  CHECK(h.type_name() == "(anonymous namespace)::ToyModel");
  CHECK(ModelHandle().empty());
  CHECK(ModelHandle().type_name() == "nothing");
}

TEST_CASE("ModelHandle: asking for the wrong model type is one line naming the node, the port and both types") {
  MapStageContext ctx("refine");
  ctx.inputs["model"] = ModelHandle::of(std::make_shared<ToyModel>());
  const std::string e = error_of([&] { ctx.model<models::ClipModel>("model"); });
  CHECK(e ==
        "node 'refine' input 'model': expected a model of type ovseg::models::ClipModel, got "
        "(anonymous namespace)::ToyModel");
  CHECK(e.find('\n') == std::string::npos);
  // Types from the models library compare equal across shared libraries and
  // print by their C++ names.
  CHECK(error_of([&] { ModelHandle::of(std::make_shared<int>(1)).get<models::SamModel>("node 'dec' input 'sam'"); }) ==
        "node 'dec' input 'sam': expected a model of type ovseg::models::SamModel, got int");
  ctx.inputs["model"] = ModelHandle();
  CHECK(error_of([&] { ctx.model<ToyModel>("model"); }) ==
        "node 'refine' input 'model': expected a model of type (anonymous namespace)::ToyModel, got an empty model "
        "handle");
  // A non-Model payload on the port: the port-type error, as for any input.
  ctx.inputs["model"] = FeatureMap{at::zeros({1, 2, 3, 4})};
  CHECK(error_of([&] { ctx.model<ToyModel>("model"); }) ==
        "node 'refine': input 'model' carries FeatureMap, expected Model");
}
