// LoftUp on ATen: see loftup.hpp. Every formula below is the authors' module
// it is named after (upsamplers/upsamplers.py, upsamplers/layers.py), in the
// same operation order, so that a released checkpoint gives the authors'
// numbers (pinned by tests/loftup/test_loftup_parity.cpp).
#include <ovseg/models/loftup.hpp>

#include <ovseg/models/checkpoint_io.hpp>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer brings it in LibTorch 2.x

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

namespace ovseg::models {
namespace {

[[noreturn]] void fail(const std::string& source, const std::string& what) {
  throw CheckpointError("LoftUp checkpoint '" + source + "': " + what);
}

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

const std::string kUp = "upsampler.";
const std::string kChannelNorm = "channelnorm.norm.";
const std::string kLightningChannelNorm = "model.1.norm.";  // load_loftup_checkpoint's name for it

std::string layer_prefix(int64_t i) { return kUp + "ca_transformer.layers." + std::to_string(i) + "."; }

bool is_buffer_name(const std::string& n) {
  const auto ends = [&](const std::string& e) {
    return n.size() >= e.size() && n.compare(n.size() - e.size(), e.size(), e) == 0;
  };
  return ends("running_mean") || ends("running_var") || ends("num_batches_tracked");
}

// layers.py ImplicitFeaturizer.forward for rows `gy` of a grid whose
// columns are `gx` (both slices of torch.linspace(-1, 1, n)); `image` is the
// MinMaxScaler output for those rows, or undefined (color_feats=False).
at::Tensor implicit_features(int64_t B, const at::Tensor& gy, const at::Tensor& gx, const at::Tensor& image,
                             const at::Tensor& biases, int64_t n_freqs) {
  const int64_t h = gy.size(0), w = gx.size(0);
  auto mesh = at::meshgrid({gy, gx}, "ij");
  at::Tensor feats = at::stack({mesh[0], mesh[1]}).unsqueeze(0).expand({B, 2, h, w});
  if (image.defined()) feats = at::cat({feats, image}, 1);
  const int64_t dm = feats.size(1);
  feats = feats.unsqueeze(1);
  const at::Tensor freqs = at::exp(at::linspace(-2, 10, n_freqs, gy.options())).reshape({1, n_freqs, 1, 1, 1});
  feats = feats * freqs;
  at::Tensor sin_feats = feats + biases[0].reshape({1, n_freqs, dm, 1, 1});
  at::Tensor cos_feats = feats + biases[1].reshape({1, n_freqs, dm, 1, 1});
  sin_feats = sin_feats.reshape({B, n_freqs * dm, h, w});
  cos_feats = cos_feats.reshape({B, n_freqs * dm, h, w});
  if (image.defined()) return at::cat({at::sin(sin_feats), at::cos(cos_feats), image}, 1);
  return at::cat({at::sin(sin_feats), at::cos(cos_feats)}, 1);
}

// layers.py ChannelNorm: nn.LayerNorm over the channels of (B,C,H,W).
at::Tensor channel_layer_norm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  return at::layer_norm(x.permute({0, 2, 3, 1}), {x.size(1)}, w, b, 1e-5).permute({0, 3, 1, 2});
}

}  // namespace

std::string LoftUpGeometry::describe() const {
  std::ostringstream s;
  s << "dim " << dim << ", width " << width() << ", " << layers << " layers x " << heads << " heads, " << n_freqs
    << " image frequencies, " << lr_pe_freqs << " low-res frequencies";
  return s.str();
}

bool LoftUpGeometry::operator==(const LoftUpGeometry& o) const {
  return dim == o.dim && n_freqs == o.n_freqs && lr_pe_freqs == o.lr_pe_freqs && layers == o.layers && heads == o.heads;
}

LoftUpGeometry loftup_geometry_preset(const std::string& name) {
  LoftUpGeometry g;
  if (name == "clip")
    g.dim = 512;
  else if (name == "dinov2s")
    g.dim = 384;
  else if (name == "dinov2b" || name == "siglip")
    g.dim = 768;
  else if (name == "world")
    g.dim = 64;
  else
    throw std::invalid_argument("unknown LoftUp geometry '" + name + "' (clip, dinov2s, dinov2b, siglip, world)");
  return g;
}

std::vector<std::pair<std::string, std::vector<int64_t>>> loftup_layout(const LoftUpGeometry& g) {
  const int64_t D = g.dim, E = g.width(), S = g.stem_in();
  std::vector<std::pair<std::string, std::vector<int64_t>>> out = {
      {kChannelNorm + "weight", {D}},
      {kChannelNorm + "bias", {D}},
      {kUp + "lr_pe.biases", {2, 2, g.lr_pe_freqs}},
      {kUp + "fourier_feat.1.biases", {2, 5, g.n_freqs}},
      {kUp + "first_conv.0.norm.weight", {S}},
      {kUp + "first_conv.0.norm.bias", {S}},
      {kUp + "first_conv.1.weight", {E, S, 3, 3}},
      {kUp + "first_conv.1.bias", {E}},
  };
  const auto bn = [&](const std::string& p) {
    for (const char* n : {"weight", "bias", "running_mean", "running_var"}) out.push_back({p + n, {E}});
    out.push_back({p + "num_batches_tracked", {}});
  };
  bn(kUp + "first_conv.2.");
  out.push_back({kUp + "first_conv.4.weight", {E, E, 3, 3}});
  out.push_back({kUp + "first_conv.4.bias", {E}});
  bn(kUp + "first_conv.5.");
  out.push_back({kUp + "final_conv.0.weight", {D, E, 1, 1}});
  out.push_back({kUp + "final_conv.0.bias", {D}});
  out.push_back({kUp + "final_conv.1.weight", {D}});
  out.push_back({kUp + "final_conv.1.bias", {D}});
  out.push_back({kUp + "ca_transformer.norm.weight", {E}});
  out.push_back({kUp + "ca_transformer.norm.bias", {E}});
  for (int64_t i = 0; i < g.layers; ++i) {
    const std::string p = layer_prefix(i);
    for (const char* n : {"0.norm_q.", "0.norm_kv.", "1.net.0."}) {
      out.push_back({p + n + "weight", {E}});
      out.push_back({p + n + "bias", {E}});
    }
    out.push_back({p + "0.attention.in_proj_weight", {3 * E, E}});
    out.push_back({p + "0.attention.in_proj_bias", {3 * E}});
    out.push_back({p + "0.attention.out_proj.weight", {E, E}});
    out.push_back({p + "0.attention.out_proj.bias", {E}});
    out.push_back({p + "1.net.1.weight", {D, E}});
    out.push_back({p + "1.net.1.bias", {D}});
    out.push_back({p + "1.net.4.weight", {E, D}});
    out.push_back({p + "1.net.4.bias", {E}});
  }
  return out;
}

LoftUpGeometry infer_loftup_geometry(const StateDict& sd, const std::string& source, int64_t heads) {
  const auto get = [&](const std::string& k) -> const at::Tensor& {
    auto it = sd.find(k);
    if (it == sd.end())
      fail(source, "missing tensor '" + k +
                       "' (expected the released layout: "
                       "channelnorm.norm.* and upsampler.*, as hubconf.py's loftup_clip)");
    return it->second;
  };
  LoftUpGeometry g;
  g.heads = heads;
  const at::Tensor& fin = get(kUp + "final_conv.0.weight");
  if (fin.dim() != 4)
    fail(source, "upsampler.final_conv.0.weight is " + shape_string(fin.sizes()) + ", expected (dim, width, 1, 1)");
  g.dim = fin.size(0);
  const at::Tensor& ff = get(kUp + "fourier_feat.1.biases");
  if (ff.dim() != 3 || ff.size(0) != 2 || ff.size(1) != 5)
    fail(source, "upsampler.fourier_feat.1.biases is " + shape_string(ff.sizes()) +
                     ", expected (2, 5, n_freqs) (colour Fourier features)");
  g.n_freqs = ff.size(2);
  auto pe = sd.find(kUp + "lr_pe.biases");
  if (pe == sd.end())
    fail(source,
         "missing tensor 'upsampler.lr_pe.biases': only lr_pe_type \"sine\" (every released "
         "upsampler) is supported, not a learnable lr_pe");
  if (pe->second.dim() != 3 || pe->second.size(0) != 2 || pe->second.size(1) != 2)
    fail(source, "upsampler.lr_pe.biases is " + shape_string(pe->second.sizes()) + ", expected (2, 2, n)");
  g.lr_pe_freqs = pe->second.size(2);
  int64_t layers = 0;
  while (sd.count(layer_prefix(layers) + "0.attention.in_proj_weight")) ++layers;
  if (layers == 0) fail(source, "no cross-attention layers (upsampler.ca_transformer.layers.0.*)");
  g.layers = layers;
  if (heads < 1 || g.width() % heads != 0)
    fail(source,
         "attention width " + std::to_string(g.width()) + " is not divisible by " + std::to_string(heads) + " heads");
  return g;
}

StateDict make_loftup_state_dict(const LoftUpGeometry& g, uint64_t seed, bool random) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  const auto uniform = [&](at::IntArrayRef shape, double bound) {
    return at::rand(shape, gen, f32) * (2 * bound) - bound;
  };
  const auto normal = [&](at::IntArrayRef shape, double std, double mean = 0.0) {
    return at::randn(shape, gen, f32) * std + mean;
  };
  StateDict sd;
  for (const auto& [name, shape] : loftup_layout(g)) {
    const auto ends = [&](const std::string& e) {
      return name.size() >= e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0;
    };
    at::Tensor t;
    if (ends("num_batches_tracked")) {
      t = at::full({}, random ? 1000 + static_cast<int64_t>(seed % 997) : 0, at::kLong);
    } else if (ends("biases")) {
      t = normal(shape, 1.0);  // torch.randn in ImplicitFeaturizer
    } else if (ends("running_mean")) {
      t = random ? normal(shape, 0.1) : at::zeros(shape, f32);
    } else if (ends("running_var")) {
      t = random ? at::rand(shape, gen, f32) + 0.5 : at::ones(shape, f32);
    } else if (shape.size() == 1 &&
               (name.find("norm") != std::string::npos || name.find("first_conv.2.") != std::string::npos ||
                name.find("first_conv.5.") != std::string::npos || name.find("final_conv.1.") != std::string::npos ||
                name.find("net.0.") != std::string::npos)) {
      // LayerNorm / BatchNorm affines: 1 and 0 by default.
      const bool weight = ends("weight");
      t = random ? (weight ? normal(shape, 0.1, 1.0) : normal(shape, 0.02))
                 : (weight ? at::ones(shape, f32) : at::zeros(shape, f32));
    } else if (ends("in_proj_weight")) {
      // nn.MultiheadAttention._reset_parameters: xavier_uniform_.
      t = uniform(shape, std::sqrt(6.0 / double(shape[0] + shape[1])));
    } else if (ends("in_proj_bias") || name.find("out_proj.bias") != std::string::npos) {
      t = random ? normal(shape, 0.02) : at::zeros(shape, f32);
    } else {
      // Conv2d / Linear (kaiming_uniform_(a=sqrt(5)) and their bias): U(+-1/sqrt(fan_in)).
      int64_t fan_in = 1;
      if (ends("bias")) {
        const std::string w = name.substr(0, name.size() - 4) + "weight";
        for (const auto& [n2, s2] : loftup_layout(g))
          if (n2 == w)
            for (size_t k = 1; k < s2.size(); ++k) fan_in *= s2[k];
      } else {
        for (size_t k = 1; k < shape.size(); ++k) fan_in *= shape[k];
      }
      t = uniform(shape, 1.0 / std::sqrt(double(fan_in)));
    }
    sd[name] = t;
  }
  return sd;
}

LoftUp::LoftUp(const StateDict& sd_in, const std::string& source, int64_t heads, at::Device device) : device_(device) {
  StateDict sd;
  for (const auto& [k, v] : sd_in) {
    if (starts_with(k, kLightningChannelNorm))
      sd[kChannelNorm + k.substr(kLightningChannelNorm.size())] = v;
    else if (starts_with(k, kUp) || starts_with(k, kChannelNorm))
      sd[k] = v;
    // Anything else of a training checkpoint (the featurizer under model.0,
    // a downsampler) is not the upsampler's.
  }
  g_ = infer_loftup_geometry(sd, source, heads);
  const auto layout = loftup_layout(g_);
  std::set<std::string> expected;
  for (const auto& [name, shape] : layout) {
    expected.insert(name);
    auto it = sd.find(name);
    if (it == sd.end()) fail(source, "missing tensor '" + name + "' (geometry " + g_.describe() + ")");
    if (it->second.sizes() != at::IntArrayRef(shape))
      fail(source, "tensor '" + name + "' is " + shape_string(it->second.sizes()) + ", expected " +
                       shape_string(shape) + " for " + g_.describe());
    at::Tensor t = it->second;
    t = is_buffer_name(name) && !t.is_floating_point() ? t.to(device, at::kLong).clone()
                                                       : t.to(device, at::kFloat).clone();
    index_[name] = named_.size();
    named_.push_back({name, t, is_buffer_name(name)});
  }
  for (const auto& [k, v] : sd)
    if (!expected.count(k))
      fail(source,
           "unexpected tensor '" + k + "' (not part of LoftUp with lr_pe_type \"sine\", " + g_.describe() + ")");
}

std::shared_ptr<LoftUp> LoftUp::load(const std::string& path, int64_t heads, at::Device device) {
  return std::make_shared<LoftUp>(load_state_dict(path), path, heads, device);
}

StateDict LoftUp::state_dict() const {
  StateDict sd;
  for (const auto& n : named_) sd[n.name] = n.tensor.detach().to(at::kCPU).clone();
  return sd;
}

const at::Tensor& LoftUp::t(const std::string& name) const {
  auto it = index_.find(name);
  TORCH_CHECK(it != index_.end(), "LoftUp: no tensor ", name);
  return named_[it->second].tensor;
}

at::Tensor LoftUp::channel_norm(const at::Tensor& lr) const {
  return channel_layer_norm(lr, t(kChannelNorm + "weight"), t(kChannelNorm + "bias"));
}

at::Tensor LoftUp::stem(const at::Tensor& fourier, bool training) const {
  const auto bn = [&](const at::Tensor& x, const std::string& p) {
    if (training) {
      at::NoGradGuard no_grad;
      t(p + "num_batches_tracked").add_(1);
    }
    return at::batch_norm(x, t(p + "weight"), t(p + "bias"), t(p + "running_mean"), t(p + "running_var"), training, 0.1,
                          1e-5, true);
  };
  at::Tensor x = channel_layer_norm(fourier, t(kUp + "first_conv.0.norm.weight"), t(kUp + "first_conv.0.norm.bias"));
  x = at::conv2d(x, t(kUp + "first_conv.1.weight"), t(kUp + "first_conv.1.bias"), 1, 1);
  x = at::relu(bn(x, kUp + "first_conv.2."));
  x = at::conv2d(x, t(kUp + "first_conv.4.weight"), t(kUp + "first_conv.4.bias"), 1, 1);
  return at::relu(bn(x, kUp + "first_conv.5."));
}

int64_t LoftUp::tile_rows(int64_t B, int64_t W, int64_t L, int64_t max_tile_bytes) const {
  // float32 bytes per query pixel alive at once: attention scores and their
  // softmax, ~8 width-sized activations (query, its norm, projections,
  // attention output, FFN), the Fourier features and their sin/cos halves.
  const int64_t per_pixel = 4 * (2 * g_.heads * L + 8 * g_.width() + 3 * g_.stem_in() + 2 * g_.dim);
  const int64_t per_row = std::max<int64_t>(1, B * W * per_pixel);
  return std::max<int64_t>(1, max_tile_bytes / per_row);
}

at::Tensor LoftUp::forward(const at::Tensor& lr_in, const at::Tensor& image_in, const Options& o) const {
  TORCH_CHECK(lr_in.dim() == 4 && lr_in.size(1) == g_.dim, "LoftUp: low-resolution features must be (B, ", g_.dim,
              ", h, w), got ", lr_in.sizes());
  TORCH_CHECK(image_in.dim() == 4 && image_in.size(1) == 3 && image_in.size(0) == lr_in.size(0),
              "LoftUp: image must be (B, 3, H, W) with the features' batch ", lr_in.size(0), ", got ",
              image_in.sizes());
  at::Tensor image = image_in.to(device_, at::kFloat);
  if (o.out_h > 0 && o.out_w > 0 && (o.out_h != image.size(2) || o.out_w != image.size(3)))
    image = at::upsample_bilinear2d(image, {o.out_h, o.out_w}, /*align_corners=*/false);
  const int64_t B = image.size(0), H = image.size(2), W = image.size(3);
  const int64_t D = g_.dim, E = g_.width(), heads = g_.heads, hd = E / heads;

  // UpsamplerwithChannelNorm: channel norm, then the sine positional encoding
  // of the low-res grid concatenated to it: keys and values (B, L, E).
  at::Tensor lr = channel_norm(lr_in.to(device_, at::kFloat));
  const int64_t h = lr.size(2), w = lr.size(3), L = h * w;
  const auto fopts = lr.options();
  at::Tensor pe = implicit_features(B, at::linspace(-1, 1, h, fopts), at::linspace(-1, 1, w, fopts), at::Tensor(),
                                    t(kUp + "lr_pe.biases"), g_.lr_pe_freqs);
  at::Tensor kv = at::cat({lr, pe}, 1).flatten(2).permute({0, 2, 1});
  // Each layer's keys and values, once for all query tiles: (B, heads, L, hd).
  std::vector<at::Tensor> keys, values;
  for (int64_t l = 0; l < g_.layers; ++l) {
    const std::string p = layer_prefix(l) + "0.";
    const at::Tensor& win = t(p + "attention.in_proj_weight");
    const at::Tensor& bin = t(p + "attention.in_proj_bias");
    // CrossAttentionLayer normalises key and value separately (the same
    // tensor twice); the projections are in_proj's k and v rows.
    at::Tensor kvn = at::layer_norm(kv, {E}, t(p + "norm_kv.weight"), t(p + "norm_kv.bias"), 1e-5);
    at::Tensor k = at::linear(kvn, win.narrow(0, E, E), bin.narrow(0, E, E));
    at::Tensor v = at::linear(kvn, win.narrow(0, 2 * E, E), bin.narrow(0, 2 * E, E));
    keys.push_back(k.view({B, L, heads, hd}).permute({0, 2, 3, 1}));  // (B, heads, hd, L)
    values.push_back(v.view({B, L, heads, hd}).permute({0, 2, 1, 3}));
  }

  // MinMaxScaler over the whole batch (per channel), before any tiling.
  at::Tensor flat = image.permute({1, 0, 2, 3}).reshape({3, -1});
  const at::Tensor mn = std::get<0>(flat.min(-1)).reshape({1, 3, 1, 1});
  const at::Tensor scale = std::get<0>(flat.max(-1)).reshape({1, 3, 1, 1}) - mn;
  const at::Tensor gy = at::linspace(-1, 1, H, fopts), gx = at::linspace(-1, 1, W, fopts);

  const int64_t rows = (o.training || o.max_tile_bytes <= 0) ? H : std::min(H, tile_rows(B, W, L, o.max_tile_bytes));
  const int64_t halo = 2;  // two 3x3 convolutions
  at::Tensor out;
  std::vector<at::Tensor> pieces;  // training: cat keeps autograd simple
  if (rows < H) out = at::empty({B, D, H, W}, fopts);
  for (int64_t r0 = 0; r0 < H; r0 += rows) {
    const int64_t r1 = std::min(H, r0 + rows);
    const int64_t a = std::max<int64_t>(0, r0 - halo), b = std::min(H, r1 + halo);
    at::Tensor img_rows = (image.narrow(2, a, b - a) - mn) / scale.clamp_min(0.0001) - .5;
    at::Tensor f = implicit_features(B, gy.narrow(0, a, b - a), gx, img_rows, t(kUp + "fourier_feat.1.biases"),
                                     g_.n_freqs);
    at::Tensor x = stem(f, o.training).narrow(2, r0 - a, r1 - r0);
    const int64_t T = (r1 - r0) * W;
    at::Tensor q = x.flatten(2).permute({0, 2, 1});  // (B, T, E)
    for (int64_t l = 0; l < g_.layers; ++l) {
      const std::string p = layer_prefix(l);
      const at::Tensor& win = t(p + "0.attention.in_proj_weight");
      const at::Tensor& bin = t(p + "0.attention.in_proj_bias");
      at::Tensor qn = at::layer_norm(q, {E}, t(p + "0.norm_q.weight"), t(p + "0.norm_q.bias"), 1e-5);
      at::Tensor qp = at::linear(qn, win.narrow(0, 0, E), bin.narrow(0, 0, E));
      qp = qp.view({B, T, heads, hd}).permute({0, 2, 1, 3}) / std::sqrt(static_cast<double>(hd));
      at::Tensor attn = at::softmax(at::matmul(qp, keys[l]), -1);
      at::Tensor ao = at::matmul(attn, values[l]).permute({0, 2, 1, 3}).reshape({B, T, E});
      q = at::linear(ao, t(p + "0.attention.out_proj.weight"), t(p + "0.attention.out_proj.bias")) + q;
      at::Tensor hdn = at::layer_norm(q, {E}, t(p + "1.net.0.weight"), t(p + "1.net.0.bias"), 1e-5);
      hdn = at::gelu(at::linear(hdn, t(p + "1.net.1.weight"), t(p + "1.net.1.bias")));
      q = at::linear(hdn, t(p + "1.net.4.weight"), t(p + "1.net.4.bias")) + q;
    }
    q = at::layer_norm(q, {E}, t(kUp + "ca_transformer.norm.weight"), t(kUp + "ca_transformer.norm.bias"), 1e-5);
    // final_conv: 1x1 convolution, then layers.py's channel LayerNorm (eps 1e-6).
    at::Tensor y = at::linear(q, t(kUp + "final_conv.0.weight").view({D, E}), t(kUp + "final_conv.0.bias"));
    const at::Tensor u = y.mean(-1, true);
    const at::Tensor s = (y - u).pow(2).mean(-1, true);
    y = (y - u) / at::sqrt(s + 1e-6);
    y = t(kUp + "final_conv.1.weight") * y + t(kUp + "final_conv.1.bias");
    y = y.permute({0, 2, 1}).reshape({B, D, r1 - r0, W});
    if (out.defined())
      out.narrow(2, r0, r1 - r0).copy_(y);
    else
      pieces.push_back(y);
  }
  if (out.defined()) return out;
  return pieces.size() == 1 ? pieces[0] : at::cat(pieces, 2);
}

}  // namespace ovseg::models
