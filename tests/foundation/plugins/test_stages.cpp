// Test stages for the foundation suite, built with the real plugin mechanism
// (plugin_entry.cpp, hidden visibility) into build/test_plugins/.
//
// record_order: output logits' class_names = the class_names of its 'after'
//   input plus its own node id, so the final output spells out the order the
//   data flowed in. logits[:,k] = k, so argmax is the last class everywhere.
// misbehave: fails in the way its `mode` parameter names.
#include <ovseg/sdk.hpp>

#include <new>

namespace {

using namespace ovseg;

class RecordOrder : public Stage {
 public:
  static PluginDescriptor describe() {
    return PluginDescriptor("record_order", StageKind::Fusion, "appends its node id to a trace")
        .input("image", PortType::Image, "sets the output size", /*optional=*/true)
        .input("after", PortType::Logits, "trace so far", /*optional=*/true)
        .output("logits", PortType::Logits, "(B,K,H,W) with class k = k; names = trace");
  }

  explicit RecordOrder(const StageInit& init) : id_(init.node_id) {}

  void run(StageContext& ctx) override {
    std::vector<std::string> trace;
    int64_t b = 1, h = 2, w = 2;
    if (ctx.has_input("after")) {
      const Logits& after = ctx.input<Logits>("after");
      trace = after.class_names;
      b = after.logits.size(0);
      h = after.logits.size(2);
      w = after.logits.size(3);
    }
    if (ctx.has_input("image")) {
      const at::Tensor& img = ctx.input<Image>("image").pixels;
      b = img.size(0);
      h = img.size(2);
      w = img.size(3);
    }
    trace.push_back(id_);
    const int64_t k = static_cast<int64_t>(trace.size());
    at::Tensor logits = at::arange(k, at::TensorOptions().dtype(at::kFloat).device(ctx.device()))
                            .view({1, k, 1, 1})
                            .expand({b, k, h, w})
                            .contiguous();
    ctx.set_output("logits", Logits{logits, trace});
  }

 private:
  std::string id_;
};

class Misbehave : public Stage {
 public:
  static PluginDescriptor describe() {
    return PluginDescriptor("misbehave", StageKind::Postprocess, "fails on purpose")
        .input("logits", PortType::Logits, "anything")
        .output("logits", PortType::Logits, "the input, when it behaves")
        .param("mode", "ok", "how to fail")
        .choices({"ok", "throw_in_run", "throw_in_init", "forget_output", "wrong_type", "undeclared_output",
                  "read_unwired", "bad_alloc", "huge_tensor"});
  }

  explicit Misbehave(const StageInit& init) : mode_(init.params.get_string("mode")) {
    if (mode_ == "throw_in_init") throw std::runtime_error("misbehave refuses to start");
  }

  void run(StageContext& ctx) override {
    const Logits& in = ctx.input<Logits>("logits");
    if (mode_ == "throw_in_run") throw std::runtime_error("deliberate failure in run()");
    if (mode_ == "bad_alloc") throw std::bad_alloc();
    if (mode_ == "huge_tensor") (void)at::empty({int64_t{1} << 44}, at::kFloat);  // 64 TiB: the allocator refuses
    if (mode_ == "forget_output") return;
    if (mode_ == "wrong_type") return ctx.set_output("logits", LabelMap{in.logits.argmax(1), in.class_names});
    if (mode_ == "undeclared_output") return ctx.set_output("extra", in);
    if (mode_ == "read_unwired") (void)ctx.input<Image>("image");
    ctx.set_output("logits", in);
  }

 private:
  std::string mode_;
};

}  // namespace

OVSEG_REGISTER_PLUGIN(RecordOrder);
OVSEG_REGISTER_PLUGIN(Misbehave);
