// chimera_body: Chimera-Seg's "body", the trainable segmentation backbone
// whose dense features the CLIP Semantic Head maps into CLIP's space. The
// paper plugs in an existing segmentation model (its public text does not
// say which one here); on the world it must train from scratch in minutes on
// two CPU cores, so the body is a small residual conv net whose shape is
// parameters: `widths` (one stride-2 stage per entry, so 3 entries = output
// stride 8, CLIP's patch on the world model) and `blocks` (residual basic
// blocks per stage; 0 = a plain conv stack). Conv3x3 -> GroupNorm -> ReLU
// everywhere (GroupNorm, not BatchNorm: batches of a few 64 px crops),
// torchvision's ResNet initialisation (kaiming normal, fan_out, ReLU).
#include <ovseg/sdk.hpp>

#include <ovseg/models/clip_model.hpp>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

namespace {

using namespace ovseg;

struct ConvNorm {  // conv3x3 (no bias) + GroupNorm
  at::Tensor weight, gn_weight, gn_bias;
  int64_t stride = 1, groups = 1;
  at::Tensor operator()(const at::Tensor& x) const {
    return at::group_norm(at::conv2d(x, weight, {}, {stride, stride}, {1, 1}), groups, gn_weight, gn_bias, 1e-5);
  }
};

class ChimeraBody : public Stage {
 public:
  static PluginDescriptor describe() {
    return PluginDescriptor("chimera_body", StageKind::Encoder,
                            "Chimera-Seg body: a trainable residual conv backbone -> dense features (B,C,H/2^S,W/2^S)")
        .input("image", PortType::Image, "image (B,3,H,W) RGB in [0,1]")
        .output("features", PortType::FeatureMap, "dense features (B,widths[-1],h,w), one stride-2 stage per width")
        .param("widths", std::vector<int64_t>{32, 64, 128},
               "channels of each stage; each stage halves the resolution (3 stages: output stride 8)")
        .param("blocks", int64_t{1}, "residual basic blocks per stage after its stride-2 conv (0: plain conv stack)")
        .range(0, 16)
        .param("groups", int64_t{8}, "GroupNorm groups (clamped to a divisor of each width)")
        .range(1, 64)
        .param("init_seed", int64_t{0}, "seed of the initialisation")
        .range(0, std::nullopt);
  }

  explicit ChimeraBody(const StageInit& init) {
    const auto widths = init.params.get<std::vector<int64_t>>("widths");
    if (widths.empty()) throw std::invalid_argument("widths must name at least one stage, e.g. [32, 64, 128]");
    for (int64_t w : widths)
      if (w < 1) throw std::invalid_argument("every entry of widths must be >= 1");
    const int64_t blocks = init.params.get_int("blocks"), groups = init.params.get_int("groups");
    at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(
        static_cast<uint64_t>(init.params.get_int("init_seed")));
    const at::Device device(init.device);
    auto conv = [&](int64_t in, int64_t out, int64_t stride) {
      ConvNorm c;
      // kaiming_normal_(mode="fan_out", nonlinearity="relu"): std = sqrt(2 / (out * 3 * 3))
      c.weight = at::empty({out, in, 3, 3}).normal_(0.0, std::sqrt(2.0 / static_cast<double>(out * 9)), gen).to(device);
      c.gn_weight = at::ones({out}, device);
      c.gn_bias = at::zeros({out}, device);
      c.stride = stride;
      c.groups = std::min(groups, out);
      while (out % c.groups != 0) --c.groups;
      return c;
    };
    int64_t in = 3;
    for (int64_t w : widths) {
      Stage_ s;
      s.down = conv(in, w, 2);
      for (int64_t b = 0; b < blocks; ++b) s.blocks.push_back({conv(w, w, 1), conv(w, w, 1)});
      stages_.push_back(std::move(s));
      in = w;
    }
  }

  void run(StageContext& ctx) override {
    const at::Tensor& img = ctx.input<Image>("image").pixels;
    expect_shape(img, {-1, 3, -1, -1}, "node '" + ctx.node_id() + "' input 'image'");
    at::Tensor x = models::normalize_clip_pixels(img);
    for (const auto& s : stages_) {
      x = at::relu(s.down(x));
      for (const auto& [a, b] : s.blocks) x = at::relu(x + b(at::relu(a(x))));
    }
    ctx.set_output("features", FeatureMap{x});
  }

  // stages.I.down.*, stages.I.blocks.J.{conv1,conv2}.*: all trainable.
  std::vector<NamedTensor> parameters() override {
    std::vector<NamedTensor> out;
    auto add = [&](const std::string& name, const ConvNorm& c) {
      out.push_back({name + ".weight", c.weight, true});
      out.push_back({name + ".norm.weight", c.gn_weight, true});
      out.push_back({name + ".norm.bias", c.gn_bias, true});
    };
    for (size_t i = 0; i < stages_.size(); ++i) {
      const std::string p = "stages." + std::to_string(i);
      add(p + ".down", stages_[i].down);
      for (size_t j = 0; j < stages_[i].blocks.size(); ++j) {
        add(p + ".blocks." + std::to_string(j) + ".conv1", stages_[i].blocks[j].first);
        add(p + ".blocks." + std::to_string(j) + ".conv2", stages_[i].blocks[j].second);
      }
    }
    return out;
  }

 private:
  struct Stage_ {
    ConvNorm down;
    std::vector<std::pair<ConvNorm, ConvNorm>> blocks;
  };
  std::vector<Stage_> stages_;
};

}  // namespace

OVSEG_REGISTER_PLUGIN(ChimeraBody);
