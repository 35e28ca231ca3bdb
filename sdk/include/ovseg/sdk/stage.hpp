// The tensor half of the plugin SDK: port payloads, the context a stage runs
// in, and the Stage base class. Includes ATen (not <torch/torch.h>) to keep
// plugin compile times down; include <torch/torch.h> in a plugin's own .cpp
// only where it needs torch::nn or torch::jit.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <variant>
#include <vector>

#include "ovseg/sdk/model_handle.hpp"
#include "ovseg/sdk/plugin.hpp"

namespace ovseg {

struct Image {
  at::Tensor pixels;  // (B,3,H,W) float32 RGB in [0,1]
};

struct Tokens {
  at::Tensor tokens;  // (B,N,C); N = grid_h*grid_w (+1 when has_cls)
  int64_t grid_h = 0;
  int64_t grid_w = 0;
  bool has_cls = false;  // token 0 is a class token
};

struct FeatureMap {
  at::Tensor features;  // (B,C,h,w)
};

struct TextEmbeddings {
  at::Tensor embeddings;  // (K,C)
  std::vector<std::string> class_names;
};

struct Logits {
  at::Tensor logits;  // (B,K,H,W)
  std::vector<std::string> class_names;
};

struct LabelMap {
  at::Tensor labels;  // (B,H,W) int64
  std::vector<std::string> class_names;
};

// Prompts for promptable mask decoders (SAM's predictor), for B images with P
// prompts each. Coordinates are pixels (x, y) of the Image port the prompts
// refer to. Any of the three kinds may be left undefined (not given).
struct Prompts {
  at::Tensor points;            // (B,P,N,2) float; padded entries carry label -1
  at::Tensor point_labels;      // (B,P,N) int64: 1 foreground, 0 background, -1 padding
  at::Tensor boxes;             // (B,P,4) float x0, y0, x1, y1
  at::Tensor mask_inputs;       // (B,P,1,h,w) float low-resolution mask logits (SAM: 256x256)
  int64_t num_prompts() const;  // P of whichever tensor is defined; 0 when none is
};

// Masks for B images: N per image (a decoder's outputs, or proposals).
struct Masks {
  at::Tensor logits;             // (B,N,H,W) float mask logits; a pixel is inside where > 0
  at::Tensor scores;             // (B,N) float quality per mask (SAM: predicted IoU); may be undefined
  at::Tensor low_res;            // (B,N,h,w) float low-resolution logits; may be undefined
  int64_t masks_per_prompt = 1;  // consecutive masks from one prompt (SAM multimask: 3)
  // (B,N) int64 class of each mask where known (ground-truth instances:
  // the vocabulary index; -1 = padding or unknown); may be undefined.
  at::Tensor classes;
};

// Alternatives are in PortType order, so index() == static_cast<int>(PortType).
using PortValue =
    std::variant<Image, Tokens, FeatureMap, TextEmbeddings, Logits, LabelMap, ModelHandle, Prompts, Masks>;

template <class T>
struct port_type_of;
template <>
struct port_type_of<Image> {
  static constexpr PortType value = PortType::Image;
};
template <>
struct port_type_of<Tokens> {
  static constexpr PortType value = PortType::Tokens;
};
template <>
struct port_type_of<FeatureMap> {
  static constexpr PortType value = PortType::FeatureMap;
};
template <>
struct port_type_of<TextEmbeddings> {
  static constexpr PortType value = PortType::TextEmbeddings;
};
template <>
struct port_type_of<Logits> {
  static constexpr PortType value = PortType::Logits;
};
template <>
struct port_type_of<LabelMap> {
  static constexpr PortType value = PortType::LabelMap;
};
template <>
struct port_type_of<ModelHandle> {
  static constexpr PortType value = PortType::Model;
};
template <>
struct port_type_of<Prompts> {
  static constexpr PortType value = PortType::Prompts;
};
template <>
struct port_type_of<Masks> {
  static constexpr PortType value = PortType::Masks;
};

inline PortType port_type(const PortValue& v) { return static_cast<PortType>(v.index()); }

// "(2, 3, 224, 224)"
std::string shape_string(const at::Tensor& t);

// Throws a clear error unless `t` has `dims.size()` dimensions and each
// non-negative entry of `dims` matches. `what` names the tensor, e.g.
// "input 'features'".
void expect_shape(const at::Tensor& t, std::vector<int64_t> dims, const std::string& what);

// torch.nn.functional.normalize(t, p=2, dim, eps=1e-12): the exact formula
// the methods' Python code uses, so parity holds at the last bit we can.
at::Tensor l2_normalize(const at::Tensor& t, int64_t dim = -1);

// What a stage sees while it runs: its inputs, its outputs, the device.
class StageContext {
 public:
  virtual ~StageContext() = default;
  virtual const std::string& node_id() const = 0;
  virtual at::Device device() const = 0;
  virtual bool has_input(const std::string& port) const = 0;
  virtual const PortValue& input_value(const std::string& port) const = 0;
  virtual void set_output(const std::string& port, PortValue value) = 0;
  // Whether any node (or the pipeline's [outputs]) reads this output. A stage
  // may skip computing an unwanted output and leave it unset.
  virtual bool wants_output(const std::string& port) const = 0;

  // Training: whether the graph runs with autograd for `ovseg train` (false
  // in evaluation and `ovseg run`, where the host also disables gradients).
  virtual bool training() const { return false; }
  // Adds an auxiliary loss (a scalar) while training; `name` must be declared
  // with PluginDescriptor::loss(). The trainer weights it as "node.name" from
  // [train.losses]. Ignored when not training.
  virtual void add_loss(const std::string& name, const at::Tensor& value) {}

  template <class T>
  const T& input(const std::string& port) const {
    const PortValue& v = input_value(port);
    if (const T* p = std::get_if<T>(&v)) return *p;
    throw std::invalid_argument("node '" + node_id() + "': input '" + port + "' carries " + to_string(port_type(v)) +
                                ", expected " + to_string(port_type_of<T>::value));
  }

  // The model behind a Model input, as a T (ModelHandle::get): a one-line
  // error naming the node, the port and both types when it holds another.
  template <class T>
  std::shared_ptr<T> model(const std::string& port) const {
    return input<ModelHandle>(port).template get<T>("node '" + node_id() + "' input '" + port + "'");
  }
};

// A tensor a stage owns and the host can save, load and optimise. `tensor`
// must be the very storage run() reads: the host copies loaded weights into
// it in place and marks trainable ones requires_grad.
struct NamedTensor {
  std::string name;  // unique within the stage, e.g. "visual.proj"; the
                     // weights file prefixes it with the node id
  at::Tensor tensor;
  bool trainable = true;  // the default when the node sets no `trainable`
};

class Stage {
 public:
  virtual ~Stage() = default;
  // Reads inputs from ctx, computes, and sets every declared output.
  virtual void run(StageContext& ctx) = 0;

  // ---- learning (stages without weights keep these defaults) ----
  // Every parameter the stage owns, each with its default trainability: a
  // new head's are trainable, a wrapped foundation model's are frozen. The
  // node's `trainable = ["pattern", ...]` overrides the defaults by name.
  // Called after construction; must return the same tensors every time.
  virtual std::vector<NamedTensor> parameters() { return {}; }
  // State saved and loaded with the weights but never optimised (BatchNorm
  // running statistics, EMA copies).
  virtual std::vector<NamedTensor> buffers() { return {}; }
  // Train / eval behaviour (dropout, BatchNorm, stochastic sampling).
  virtual void set_training(bool training) {}
};

}  // namespace ovseg
