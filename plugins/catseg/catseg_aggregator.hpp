// CAT-Seg's cost-aggregation model (cvlab-kaist/CAT-Seg,
// cat_seg/modeling/transformer/model.py, class Aggregator) on plain ATen
// tensors: the cost volume, its 7x7 conv embedding, the aggregator layers
// (spatial: two Swin blocks per class guided by projected CLIP features;
// class: linear attention across classes guided by projected text, padded to
// pad_len with learnable tokens) and the upsampling decoder guided by
// projected intermediate CLIP layers. Every tensor is kept under the name the
// authors' Aggregator gives it in its state_dict (without the
// "sem_seg_head.predictor.transformer." prefix), so a released checkpoint
// maps one to one.
#pragma once

#include <ovseg/sdk.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Generator.h>

namespace ovseg::catseg {

// The Aggregator's constructor arguments (configs/vitb_384.yaml defaults).
struct AggregatorConfig {
  int64_t text_guidance_dim = 512;  // CLIP embed dim
  int64_t text_guidance_proj_dim = 128;
  int64_t appearance_guidance_dim = 512;  // CLIP embed dim (guidance = the dense features)
  int64_t appearance_guidance_proj_dim = 128;
  std::vector<int64_t> decoder_dims{64, 32};
  std::vector<int64_t> decoder_guidance_dims{256, 128};
  std::vector<int64_t> decoder_guidance_proj_dims{32, 16};
  int64_t num_layers = 2;
  int64_t nheads = 4;
  int64_t hidden_dim = 128;
  int64_t feature_resolution = 24;  // the (square) patch grid the Swin blocks are built for
  int64_t window_size = 12;
  int64_t prompt_channel = 1;  // templates P
  int64_t pad_len = 256;
  // Classes per chunk in the per-class work (the Swin blocks of every layer
  // and the upsampling decoder run on class_chunk classes at a time; the
  // class aggregation still sees all classes): bounds the intermediates'
  // memory by the chunk instead of K, with the same result. 0 = all at once.
  int64_t class_chunk = 0;
};

// Called before aggregator layer `layer` with the embedding x (B,C,T,H,W)
// and the cost volume corr (B,P,T,H,W) it came from; returns the embedding
// the layer runs on. ESC-Net puts its SAM blocks here.
using LayerHook = std::function<at::Tensor(int64_t layer, const at::Tensor& x, const at::Tensor& corr)>;

class Aggregator {
 public:
  // Initialised as PyTorch initialises the authors' modules (nn.Linear /
  // nn.Conv2d / nn.ConvTranspose2d defaults, norms 1 / 0, padding tokens 0),
  // drawing from `gen`. Throws std::invalid_argument for a configuration the
  // authors' modules cannot build (names the setting).
  Aggregator(const AggregatorConfig& config, at::Generator& gen);

  // img_feats (B,C,H,W) CLIP dense features; text (B,T,P,C) class
  // embeddings (one per template); guidance = {res3 (B,Ca,H,W), res4
  // (B,Cd0,2H,2W), res5 (B,Cd1,4H,4W)}; pooling = the class layers'
  // AvgPool2d size (the authors train with 2, evaluate with 1).
  // Returns logits (B,T,4H,4W); classes dropped by pad_len truncation are -100.
  at::Tensor forward(const at::Tensor& img_feats, const at::Tensor& text, const std::vector<at::Tensor>& guidance,
                     int64_t pooling, const LayerHook& hook = {}) const;

  // Learnable tensors in state-dict order, by the authors' names.
  std::vector<std::pair<std::string, at::Tensor>>& tensors() { return tensors_; }
  // The Swin blocks' registered attn_mask buffers (shifted blocks only), by name.
  const std::map<std::string, at::Tensor>& mask_buffers() const { return masks_; }
  const AggregatorConfig& config() const { return cfg_; }
  int64_t effective_window() const { return window_; }
  int64_t effective_shift() const { return shift_; }
  void to(at::Device device);

  // Runs f(x_chunk, first, count) on slices of x along `dim` (the class
  // axis) of at most `chunk` classes and concatenates the results along
  // `out_dim`; chunk <= 0 or >= the class count: f(x, 0, T) once.
  static at::Tensor per_class_chunks(const at::Tensor& x, int64_t dim, int64_t out_dim, int64_t chunk,
                                     const std::function<at::Tensor(const at::Tensor&, int64_t, int64_t)>& f);

 private:
  const at::Tensor& w(const std::string& name) const;
  at::Tensor swin_wrapper(const std::string& p, const at::Tensor& x, const at::Tensor& guidance) const;
  at::Tensor swin_block(const std::string& p, const at::Tensor& x, const at::Tensor& guidance, int64_t shift) const;
  at::Tensor class_layer(const std::string& p, const at::Tensor& x, const at::Tensor& guidance, int64_t pooling) const;
  at::Tensor up(const std::string& p, const at::Tensor& x, const at::Tensor& guidance) const;
  at::Tensor decode(const at::Tensor& x, const std::vector<at::Tensor>& dec) const;

  AggregatorConfig cfg_;
  int64_t window_ = 0, shift_ = 0;
  std::vector<std::pair<std::string, at::Tensor>> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, at::Tensor> masks_;
};

}  // namespace ovseg::catseg
