// cliprc_head: CLIP-RC's decode head (uyzhang/CLIP-RC
// models/decode_heads/decode_seg.py, ATMSingleHeadSeg, with use_proj = False
// and one stage as every released config has it; layers from utils.py).
//   queries   q = q_proj([ (R_r + g) * t_c ; t_c ]) for every region r and
//             class c (region-major: query r*K + c), from the region
//             embeddings R, the global embedding g and the class text
//             embeddings t;
//   lateral   v = lateral_proj([ up(R) ; g ; x ]) per patch: the region map
//             upsampled bilinearly to the patch grid, the global embedding
//             and the dense features;
//   decoder   num_layers bidirectional layers, q <- layer_q(q, v) and
//             v <- layer_v(v, q) from the same inputs (each: cross-attention
//             with q/k/v/proj Linear layers and the scale applied after q k^T,
//             residual + LayerNorm, ReLU FFN, residual + LayerNorm; dropout
//             0.1 while training);
//   logits    q . v per query and patch, averaged over the regions: (B,K,h,w)
//             per-class sigmoid mask logits at the patch grid.
// Training only: the recovery decoder (linear_q_in / linear_k_in,
// recovery_layers bidirectional layers, linear_q_out to 2D / linear_k_out)
// maps the decoder's final q and v back to the inputs it started from; its
// L1 distances to those (detached) are the auxiliary losses recovery_q and
// recovery_k (the released COCO config weights each by 50, VOC by 2).
// Initialisation as init_weights: Linear trunc_normal(0.02) with zero bias,
// LayerNorm 1/0, and decoder_v's linear2 zero.
#include <ovseg/sdk.hpp>

#include <cmath>
#include <utility>

#include "cliprc_common.hpp"

namespace {

using namespace ovseg;
using ovseg::cliprc::LayerNorm;
using ovseg::cliprc::Linear;

// utils.py Attention (qkv_bias=True, attn_drop 0.1, proj_drop 0).
struct CrossAttention {
  Linear q, k, v, proj;
  int64_t heads = 8;
  at::Tensor operator()(const at::Tensor& xq, const at::Tensor& xkv, double drop, bool training) const {
    const int64_t B = xq.size(0), Nq = xq.size(1), Nk = xkv.size(1), C = xq.size(2), d = C / heads;
    at::Tensor qh = q(xq).reshape({B, Nq, heads, d}).permute({0, 2, 1, 3});
    at::Tensor kh = k(xkv).reshape({B, Nk, heads, d}).permute({0, 2, 1, 3});
    at::Tensor vh = v(xkv).reshape({B, Nk, heads, d}).permute({0, 2, 1, 3});
    at::Tensor attn = at::matmul(qh, kh.transpose(-2, -1)) * std::pow(static_cast<double>(d), -0.5);
    attn = at::dropout(at::softmax(attn, -1), drop, training);
    return proj(at::matmul(attn, vh).transpose(1, 2).reshape({B, Nq, C}));
  }
};

// utils.py TPN_DecoderLayer.forward: nn.TransformerDecoderLayer without its
// self-attention (self_attn and norm1 exist in checkpoints but never run).
struct DecoderLayer {
  CrossAttention attn;
  Linear linear1, linear2;
  LayerNorm norm2, norm3;
  at::Tensor operator()(const at::Tensor& tgt, const at::Tensor& memory, double drop, bool training) const {
    at::Tensor t = norm2(tgt + at::dropout(attn(tgt, memory, drop, training), drop, training));
    at::Tensor ffn = linear2(at::dropout(at::relu(linear1(t)), drop, training));
    return norm3(t + at::dropout(ffn, drop, training));
  }
};

DecoderLayer make_layer(int64_t D, int64_t heads, at::Generator& gen) {
  DecoderLayer l;
  l.attn = {cliprc::head_linear(D, D, gen), cliprc::head_linear(D, D, gen), cliprc::head_linear(D, D, gen),
            cliprc::head_linear(D, D, gen), heads};
  l.linear1 = cliprc::head_linear(D, 4 * D, gen);
  l.linear2 = cliprc::head_linear(4 * D, D, gen);
  l.norm2 = cliprc::layer_norm(D);
  l.norm3 = cliprc::layer_norm(D);
  return l;
}

void add_layer(std::vector<NamedTensor>& out, const std::string& p, const DecoderLayer& l) {
  cliprc::add(out, p + "multihead_attn.q", l.attn.q);
  cliprc::add(out, p + "multihead_attn.k", l.attn.k);
  cliprc::add(out, p + "multihead_attn.v", l.attn.v);
  cliprc::add(out, p + "multihead_attn.proj", l.attn.proj);
  cliprc::add(out, p + "linear1", l.linear1);
  cliprc::add(out, p + "linear2", l.linear2);
  cliprc::add(out, p + "norm2", l.norm2);
  cliprc::add(out, p + "norm3", l.norm3);
}

class ClipRcHead : public Stage {
 public:
  static PluginDescriptor describe() {
    return PluginDescriptor(
               "cliprc_head", StageKind::Fusion,
               "CLIP-RC decode head: region-text queries, bidirectional decoder, logits averaged over regions")
        .input("features", PortType::FeatureMap, "dense features (B,D,h,w) (cliprc_encoder.features)")
        .input("global", PortType::FeatureMap, "global embedding (B,D,1,1) (cliprc_encoder.global)")
        .input("regions", PortType::FeatureMap, "region embeddings (B,D,r,r) (cliprc_encoder.regions)")
        .input("text", PortType::TextEmbeddings, "class text embeddings (K,D)")
        .output("logits", PortType::Logits, "per-class sigmoid mask logits (B,K,h,w) at the patch grid")
        .loss("recovery_q", "L1 of the recovery decoder's queries to the region-text descriptors [(R+g)*t; t]")
        .loss("recovery_k", "L1 of the recovery decoder's lateral tokens to the dense features")
        .param("channels", 512, "D: the CLIP embedding width of every input (ViT-B/16: 512; the world CLIP: 64)")
        .range(1, std::nullopt)
        .param("num_layers", 3, "bidirectional decoder layers")
        .range(1, 64)
        .param("num_heads", 8, "attention heads of every decoder layer (D must be a multiple)")
        .range(1, 1024)
        .param("recovery_layers", 1, "layers of the training-only recovery decoder (recovery_decoder_num_layers)")
        .range(1, 64)
        .param("dropout", 0.1, "dropout of the decoder layers (and their attention) while training")
        .range(0.0, 1.0)
        .param("init_seed", 0, "seed of the initialisation")
        .range(0, std::nullopt)
        .param("checkpoint", "",
               "a released CLIP-RC checkpoint (mmseg state dict): its decode_head tensors are loaded "
               "(\"\" = initialise as the authors' code does)");
  }

  explicit ClipRcHead(const StageInit& init)
      : D_(init.params.get_int("channels")),
        heads_(init.params.get_int("num_heads")),
        drop_(init.params.get_float("dropout")) {
    if (D_ % heads_ != 0)
      throw std::invalid_argument("channels " + std::to_string(D_) + " is not a multiple of num_heads " +
                                  std::to_string(heads_));
    at::Generator gen = cliprc::make_generator(static_cast<uint64_t>(init.params.get_int("init_seed")));
    const int64_t layers = init.params.get_int("num_layers"), rec = init.params.get_int("recovery_layers");
    // Construction order of the authors' module, then init_weights.
    for (int64_t i = 0; i < layers; ++i) decoder_q_.push_back(make_layer(D_, heads_, gen));
    for (int64_t i = 0; i < layers; ++i) decoder_v_.push_back(make_layer(D_, heads_, gen));
    for (int64_t i = 0; i < rec; ++i) {
      rec_q_.push_back(make_layer(D_, heads_, gen));
      rec_v_.push_back(make_layer(D_, heads_, gen));
    }
    q_in_ = cliprc::head_linear(D_, D_, gen);
    k_in_ = cliprc::head_linear(D_, D_, gen);
    q_out_ = cliprc::head_linear(D_, 2 * D_, gen);
    k_out_ = cliprc::head_linear(D_, D_, gen);
    lateral_proj_ = cliprc::head_linear(3 * D_, D_, gen);
    q_proj_ = cliprc::head_linear(2 * D_, D_, gen);
    for (auto& l : decoder_v_) {
      l.linear2.weight.zero_();
      l.linear2.bias.zero_();
    }
    const at::Device device(init.device);
    for (auto& t : parameters()) t.tensor.set_data(t.tensor.to(device));

    const std::string ckpt = init.params.get_string("checkpoint");
    if (!ckpt.empty())
      cliprc::load_released_section(init.resolve_path(ckpt), "decode_head.", parameters(),
                                    [](const std::string& k, const at::Tensor&) {
                                      // nn.TransformerDecoderLayer's unused self-attention and its norm
                                      return k.find(".self_attn.") != std::string::npos ||
                                             k.find(".norm1.") != std::string::npos;
                                    });
  }

  void run(StageContext& ctx) override {
    const at::Tensor& x = ctx.input<FeatureMap>("features").features;
    const at::Tensor& glob = ctx.input<FeatureMap>("global").features;
    const at::Tensor& regions = ctx.input<FeatureMap>("regions").features;
    const TextEmbeddings& text = ctx.input<TextEmbeddings>("text");
    const std::string node = "node '" + ctx.node_id() + "' input ";
    expect_shape(x, {-1, D_, -1, -1}, node + "'features' (channels = " + std::to_string(D_) + ")");
    const int64_t B = x.size(0), H = x.size(2), W = x.size(3), HW = H * W;
    expect_shape(glob, {B, D_, 1, 1}, node + "'global'");
    expect_shape(regions, {B, D_, -1, -1}, node + "'regions'");
    expect_shape(text.embeddings, {-1, D_}, node + "'text'");
    const int64_t K = text.embeddings.size(0), L = regions.size(2) * regions.size(3);
    const bool training = ctx.training();

    at::Tensor lateral = x.flatten(2).transpose(1, 2);  // (B,HW,D)
    const at::Tensor dense = lateral;                   // ori_lateral (recovery target)
    const at::Tensor g = glob.flatten(1);               // (B,D)
    // combine_token: [(R_r + g) * t_c ; t_c], region-major (B, L*K, 2D).
    const at::Tensor rg = regions.flatten(2).transpose(1, 2) + g.unsqueeze(1);  // (B,L,D)
    const at::Tensor t = text.embeddings.to(x.device()).view({1, 1, K, D_});
    const at::Tensor descriptors = at::cat({(rg.unsqueeze(2) * t).reshape({B, L * K, D_}),
                                            t.expand({B, L, K, D_}).reshape({B, L * K, D_})},
                                           -1);
    at::Tensor q = q_proj_(descriptors);
    const at::Tensor up =
        at::upsample_bilinear2d(regions, {H, W}, /*align_corners=*/false).reshape({B, D_, HW}).transpose(1, 2);
    lateral = lateral_proj_(at::cat({up, g.unsqueeze(1).expand({B, HW, D_}), lateral}, -1));
    for (size_t i = 0; i < decoder_q_.size(); ++i) {
      at::Tensor q_next = decoder_q_[i](q, lateral, drop_, training);
      lateral = decoder_v_[i](lateral, q, drop_, training);
      q = q_next;
    }
    const at::Tensor attn = at::matmul(q, lateral.transpose(-2, -1)).reshape({B, L * K, H, W});
    // fusion_attn_map: the K maps of every region summed in order, / L.
    at::Tensor logits = attn.narrow(1, 0, K);
    for (int64_t r = 1; r < L; ++r) logits = logits + attn.narrow(1, r * K, K);
    logits = logits / static_cast<double>(L);

    if (training) {
      at::Tensor rq = q_in_(q), rk = k_in_(lateral);
      for (size_t i = 0; i < rec_q_.size(); ++i) {
        at::Tensor rq_next = rec_q_[i](rq, rk, drop_, training);
        rk = rec_v_[i](rk, rq, drop_, training);
        rq = rq_next;
      }
      ctx.add_loss("recovery_q", at::l1_loss(q_out_(rq), descriptors.detach()));
      ctx.add_loss("recovery_k", at::l1_loss(k_out_(rk), dense.detach()));
    }
    ctx.set_output("logits", Logits{logits, text.class_names});
  }

  // Names as the authors' module names them (without "decode_head.").
  std::vector<NamedTensor> parameters() override {
    std::vector<NamedTensor> out;
    for (size_t i = 0; i < decoder_q_.size(); ++i)
      add_layer(out, "decoder_q.layers." + std::to_string(i) + ".", decoder_q_[i]);
    for (size_t i = 0; i < decoder_v_.size(); ++i)
      add_layer(out, "decoder_v.layers." + std::to_string(i) + ".", decoder_v_[i]);
    for (size_t i = 0; i < rec_q_.size(); ++i) {
      add_layer(out, "recovery_decoder.decouple_q." + std::to_string(i) + ".", rec_q_[i]);
      add_layer(out, "recovery_decoder.decouple_v." + std::to_string(i) + ".", rec_v_[i]);
    }
    cliprc::add(out, "recovery_decoder.linear_q_in", q_in_);
    cliprc::add(out, "recovery_decoder.linear_k_in", k_in_);
    cliprc::add(out, "recovery_decoder.linear_q_out", q_out_);
    cliprc::add(out, "recovery_decoder.linear_k_out", k_out_);
    cliprc::add(out, "lateral_proj", lateral_proj_);
    cliprc::add(out, "q_proj", q_proj_);
    return out;
  }

 private:
  int64_t D_, heads_;
  double drop_;
  std::vector<DecoderLayer> decoder_q_, decoder_v_, rec_q_, rec_v_;
  Linear q_in_, k_in_, q_out_, k_out_, lateral_proj_, q_proj_;
};

}  // namespace

OVSEG_REGISTER_PLUGIN(ClipRcHead);
