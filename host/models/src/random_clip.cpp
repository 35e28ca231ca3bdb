// Random CLIP state dicts in OpenAI layout. Scales follow openai/CLIP's
// initialize_parameters() so a random model's activations look like a real
// one's (no overflow, non-degenerate softmax); biases and LayerNorm affines
// are randomised too (CLIP initialises them to 0/1) so that loaders that drop
// or swap them are caught by parity tests.
#include <ovseg/models/random_clip.hpp>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <string>

namespace ovseg::models {
namespace {

struct Maker {
  at::Generator gen;
  bool empty;
  StateDict sd;

  void normal(const std::string& key, at::IntArrayRef shape, double std, double mean = 0.0) {
    if (empty) {
      sd[key] = at::empty(shape, at::kFloat);
      return;
    }
    sd[key] = at::randn(shape, gen, at::TensorOptions().dtype(at::kFloat)) * std + mean;
  }

  void block(const std::string& p, int64_t C, int64_t layers) {
    const double attn_std = std::pow(double(C), -0.5);
    const double proj_std = attn_std * std::pow(2.0 * layers, -0.5);
    const double fc_std = std::pow(2.0 * C, -0.5);
    normal(p + "ln_1.weight", {C}, 0.1, 1.0);
    normal(p + "ln_1.bias", {C}, 0.02);
    normal(p + "attn.in_proj_weight", {3 * C, C}, attn_std);
    normal(p + "attn.in_proj_bias", {3 * C}, 0.02);
    normal(p + "attn.out_proj.weight", {C, C}, proj_std);
    normal(p + "attn.out_proj.bias", {C}, 0.02);
    normal(p + "ln_2.weight", {C}, 0.1, 1.0);
    normal(p + "ln_2.bias", {C}, 0.02);
    normal(p + "mlp.c_fc.weight", {4 * C, C}, fc_std);
    normal(p + "mlp.c_fc.bias", {4 * C}, 0.02);
    normal(p + "mlp.c_proj.weight", {C, 4 * C}, proj_std);
    normal(p + "mlp.c_proj.bias", {C}, 0.02);
  }
};

}  // namespace

StateDict make_random_clip_state_dict(const ClipGeometry& g, uint64_t seed, bool uninitialized) {
  TORCH_CHECK(g.patch_size > 0 && g.image_resolution % g.patch_size == 0,
              "make_random_clip_state_dict: resolution must be a multiple of the patch size");
  Maker m{at::detail::createCPUGenerator(seed), uninitialized, {}};
  const int64_t C = g.vision_width, T = g.text_width, P = g.patch_size, grid = g.grid();
  const double vscale = std::pow(double(C), -0.5);

  m.normal("visual.conv1.weight", {C, 3, P, P}, std::pow(3.0 * P * P, -0.5));
  m.normal("visual.class_embedding", {C}, vscale);
  m.normal("visual.positional_embedding", {1 + grid * grid, C}, vscale);
  m.normal("visual.ln_pre.weight", {C}, 0.1, 1.0);
  m.normal("visual.ln_pre.bias", {C}, 0.02);
  for (int64_t i = 0; i < g.vision_layers; ++i)
    m.block("visual.transformer.resblocks." + std::to_string(i) + ".", C, g.vision_layers);
  m.normal("visual.ln_post.weight", {C}, 0.1, 1.0);
  m.normal("visual.ln_post.bias", {C}, 0.02);
  m.normal("visual.proj", {C, g.embed_dim}, vscale);

  m.normal("token_embedding.weight", {g.vocab_size, T}, 0.02);
  m.normal("positional_embedding", {g.context_length, T}, 0.01);
  for (int64_t i = 0; i < g.text_layers; ++i)
    m.block("transformer.resblocks." + std::to_string(i) + ".", T, g.text_layers);
  m.normal("ln_final.weight", {T}, 0.1, 1.0);
  m.normal("ln_final.bias", {T}, 0.02);
  m.normal("text_projection", {T, g.embed_dim}, std::pow(double(T), -0.5));
  m.sd["logit_scale"] = at::scalar_tensor(std::log(1.0 / 0.07), at::kFloat);

  // The published TorchScript archives also carry these integer scalars;
  // build_model() deletes them and so do our layout mappers.
  m.sd["input_resolution"] = at::scalar_tensor(g.image_resolution, at::kLong);
  m.sd["context_length"] = at::scalar_tensor(g.context_length, at::kLong);
  m.sd["vocab_size"] = at::scalar_tensor(g.vocab_size, at::kLong);
  return std::move(m.sd);
}

}  // namespace ovseg::models
