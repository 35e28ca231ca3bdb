// Checkpoint loaders: a random CLIP written in every published layout
// (TorchScript archive, open_clip/OpenAI safetensors, Hugging Face
// safetensors, C++ zip state dict, Python-style torch.save zip) must load back
// with identical forward results; bad files give errors naming the file and
// the tensor; safetensors dtypes round-trip; SHA-256 matches FIPS vectors.
#include "models_test_util.hpp"

#include <ovseg/models/checkpoint_io.hpp>
#include <ovseg/models/clip_checkpoint.hpp>
#include <ovseg/models/clip_model.hpp>
#include <ovseg/models/random_clip.hpp>
#include <ovseg/models/sha256.hpp>

#include <caffe2/serialize/inline_container.h>
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <functional>

using namespace ovseg::models;
using ovseg_test::max_abs_diff;
using ovseg_test::TempDir;

namespace {

// ------------------------------------------------------------------------
// Python-style torch.save writer: emits the pickle opcodes CPython's pickler
// produces for torch.save(OrderedDict) (protocol 2), including the
// collections.OrderedDict REDUCE, a BUILD with the _metadata attribute,
// memoised globals and storages saved from "cuda:0". LibTorch 1.13's own
// pickle_save never writes these, so this is how the fallback is tested.
struct PyPickle {
  std::string out;
  uint8_t memo = 0;
  void op(char c) { out += c; }
  void put() {
    out += 'q';
    out += char(memo++);
  }
  void str(const std::string& s) {
    out += 'X';
    for (int i = 0; i < 4; ++i) out += char((s.size() >> (8 * i)) & 0xff);
    out += s;
    put();
  }
  void integer(int64_t v) {
    out += 'J';
    for (int i = 0; i < 4; ++i) out += char((uint64_t(v) >> (8 * i)) & 0xff);
  }
  void global(const std::string& module, const std::string& name) {
    out += 'c' + module + '\n' + name + '\n';
    put();
  }
  void tuple(const std::vector<int64_t>& v) {
    op('(');
    for (int64_t x : v) integer(x);
    op('t');
  }
};

struct PyTensor {
  std::string key, storage_key, storage_type;  // storage_type e.g. "FloatStorage"
  at::Tensor storage;                          // 1-d
  int64_t offset;
  std::vector<int64_t> size, stride;
};

void write_python_torch_save(const std::string& path, const std::vector<PyTensor>& tensors,
                             const std::string& wrapper = "") {
  PyPickle p;
  p.out += "\x80\x02";
  if (!wrapper.empty()) {
    p.op('}');
    p.put();
    p.str(wrapper);
  }
  p.global("collections", "OrderedDict");
  p.op(')');
  p.op('R');
  p.put();
  p.op('(');
  for (const auto& t : tensors) {
    p.str(t.key);
    p.global("torch._utils", "_rebuild_tensor_v2");
    p.op('(');
    p.op('(');
    p.str("storage");
    p.global("torch", t.storage_type);
    p.str(t.storage_key);
    p.str("cuda:0");
    p.integer(t.storage.numel());
    p.op('t');
    p.op('Q');
    p.integer(t.offset);
    p.tuple(t.size);
    p.tuple(t.stride);
    p.out += '\x89';  // NEWFALSE: requires_grad
    p.global("collections", "OrderedDict");
    p.op(')');
    p.op('R');
    p.op('t');
    p.op('R');
    p.put();
  }
  p.op('u');
  // state_dict()._metadata, restored through BUILD
  p.op('}');
  p.str("_metadata");
  p.global("collections", "OrderedDict");
  p.op(')');
  p.op('R');
  p.op('s');
  p.op('b');
  if (!wrapper.empty()) p.op('s');
  p.op('.');

  caffe2::serialize::PyTorchStreamWriter writer(path);
  writer.writeRecord("data.pkl", p.out.data(), p.out.size());
  writer.writeRecord("byteorder", "little", 6);
  std::map<std::string, at::Tensor> storages;
  for (const auto& t : tensors) storages[t.storage_key] = t.storage.contiguous();
  for (const auto& s : storages)
    writer.writeRecord("data/" + s.first, s.second.data_ptr(), s.second.numel() * s.second.element_size());
  writer.writeEndOfFile();
}

std::vector<PyTensor> as_py_tensors(const StateDict& sd) {
  std::vector<PyTensor> out;
  int i = 0;
  for (const auto& kv : sd) {
    const at::Tensor t = kv.second.contiguous();
    const std::string type = t.scalar_type() == at::kFloat ? "FloatStorage" : "LongStorage";
    out.push_back({kv.first, std::to_string(i++), type, t.reshape({-1}), 0, t.sizes().vec(), t.strides().vec()});
  }
  return out;
}

void check_same_forward(const ClipModel& a, const ClipModel& b) {
  auto px = ovseg_test::test_pixels(2, 64, 64);
  auto ids = ovseg_test::test_tokens(a.geometry().vocab_size, a.geometry().context_length);
  CHECK(a.geometry() == b.geometry());
  CHECK(max_abs_diff(a.encode_image(px), b.encode_image(px)) <= 1e-6);
  CHECK(max_abs_diff(a.dense_features(px), b.dense_features(px)) <= 1e-6);
  CHECK(max_abs_diff(a.encode_text(ids), b.encode_text(ids)) <= 1e-6);
  CHECK(a.logit_scale == b.logit_scale);
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const CheckpointError& e) {
    return e.what();
  }
  return "<no CheckpointError>";
}

void truncate_file(const std::string& path, double fraction) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size() * fraction));
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

}  // namespace

TEST_CASE("a random CLIP loads back identically from every published layout") {
  TempDir dir;
  const StateDict sd = make_random_clip_state_dict(ovseg_test::small_geometry(), 42);
  auto reference = ClipModel::from_state_dict(sd, "in-memory");

  SUBCASE("OpenAI TorchScript archive") {
    const auto path = dir.file("ViT-tiny.pt");
    save_torchscript_state_dict(path, sd);
    CHECK(detect_checkpoint_format(path) == CheckpointFormat::TorchScript);
    const StateDict raw = load_state_dict(path);
    CHECK(raw.count("visual.transformer.resblocks.1.attn.in_proj_weight") == 1);
    CHECK(raw.count("visual.transformer.resblocks.0.attn.out_proj.weight") == 1);
    CHECK(raw.count("positional_embedding") == 1);
    CHECK(raw.count("input_resolution") == 1);
    CHECK(raw.size() == sd.size());
    check_same_forward(*reference, *ClipModel::load(path));
  }
  SUBCASE("open_clip / OpenAI safetensors") {
    const auto path = dir.file("open_clip_model.safetensors");
    save_safetensors(path, sd, {{"format", "pt"}});
    CHECK(detect_checkpoint_format(path) == CheckpointFormat::SafeTensors);
    check_same_forward(*reference, *ClipModel::load(path));
  }
  SUBCASE("Hugging Face CLIPModel safetensors") {
    const auto path = dir.file("model.safetensors");
    const StateDict hf = openai_to_hf_clip_layout(sd);
    CHECK(hf.count("vision_model.pre_layrnorm.weight") == 1);
    CHECK(hf.count("vision_model.encoder.layers.1.self_attn.k_proj.bias") == 1);
    CHECK(hf.count("text_model.encoder.layers.0.mlp.fc2.weight") == 1);
    CHECK(hf.count("text_model.embeddings.position_ids") == 1);
    CHECK(hf.at("visual_projection.weight").sizes() == at::IntArrayRef({32, 128}));
    save_safetensors(path, hf);
    CHECK(detect_clip_layout(load_state_dict(path), path) == ClipLayout::HuggingFace);
    check_same_forward(*reference, *ClipModel::load(path));
  }
  SUBCASE("C++ zip state dict (torch::pickle_save)") {
    const auto path = dir.file("clip_state.pth");
    save_state_dict_zip(path, sd);
    CHECK(detect_checkpoint_format(path) == CheckpointFormat::TorchZipStateDict);
    check_same_forward(*reference, *ClipModel::load(path));
  }
  SUBCASE("Python-style torch.save(OrderedDict) zip, saved from cuda:0") {
    const auto path = dir.file("python_state.pth");
    write_python_torch_save(path, as_py_tensors(sd));
    CHECK(detect_checkpoint_format(path) == CheckpointFormat::TorchZipStateDict);
    check_same_forward(*reference, *ClipModel::load(path));
  }
  SUBCASE("state dict wrapped under 'state_dict', with a DDP 'module.' prefix") {
    StateDict prefixed;
    for (const auto& kv : sd) prefixed["module." + kv.first] = kv.second;
    const auto path = dir.file("wrapped.pt");
    write_python_torch_save(path, as_py_tensors(prefixed), "state_dict");
    check_same_forward(*reference, *ClipModel::load(path));
  }
  SUBCASE("format is detected by content, not by extension") {
    const auto path = dir.file("looks_like_torch.pt");
    save_safetensors(path, sd);
    CHECK(detect_checkpoint_format(path) == CheckpointFormat::SafeTensors);
    check_same_forward(*reference, *ClipModel::load(path));
  }
}

TEST_CASE("Python-style zips: views of shared storages, fp16, nested wrappers") {
  TempDir dir;
  const auto path = dir.file("views.pth");
  auto storage = at::arange(12, at::kFloat);
  auto half = at::arange(6, at::kFloat).to(at::kHalf);
  write_python_torch_save(path,
                          {{"a", "0", "FloatStorage", storage, 0, {3, 4}, {4, 1}},
                           {"a_t", "0", "FloatStorage", storage, 0, {4, 3}, {1, 4}},
                           {"tail", "0", "FloatStorage", storage, 8, {4}, {1}},
                           {"h", "1", "HalfStorage", half, 0, {2, 3}, {3, 1}}},
                          "model");
  const StateDict sd = load_state_dict(path);
  REQUIRE(sd.size() == 4);
  CHECK(sd.at("a").equal(storage.view({3, 4})));
  CHECK(sd.at("a_t").equal(storage.view({3, 4}).t()));
  CHECK(sd.at("tail").equal(at::arange(8, 12, at::kFloat)));
  CHECK((sd.at("h").scalar_type() == at::kHalf));
  CHECK(sd.at("h").equal(half.view({2, 3})));
  CHECK(sd.at("a").device().is_cpu());
}

TEST_CASE("real Python torch.save files from the shared data load" *
          doctest::skip(!std::ifstream(OVSEG_SHARED_DATA "/clip-vitb16-text-embeddings/voc_ViT16_clip_text.pth"))) {
  // Precomputed CLIP ViT-B/16 text embeddings, saved by PyTorch 2.x from cuda:0.
  const at::Tensor voc = load_torch_tensor(OVSEG_SHARED_DATA "/clip-vitb16-text-embeddings/voc_ViT16_clip_text.pth");
  CHECK(voc.dim() == 2);
  CHECK(voc.size(1) == 512);
  CHECK(voc.device().is_cpu());
  CHECK(std::isfinite(voc.abs().sum().item<double>()));
  const at::Tensor ade = load_torch_tensor(OVSEG_SHARED_DATA "/clip-vitb16-text-embeddings/ade_ViT16_clip_text.pth");
  CHECK(ade.sizes() == at::IntArrayRef({150, 512}));
  // It is a tensor, not a state dict: the state-dict loader says so.
  CHECK(error_of([&] {
          load_state_dict(OVSEG_SHARED_DATA "/clip-vitb16-text-embeddings/voc_ViT16_clip_text.pth");
        }).find("not a dict") != std::string::npos);
}

TEST_CASE("safetensors round-trips every dtype, scalars, empties and metadata") {
  TempDir dir;
  const auto path = dir.file("dtypes.safetensors");
  StateDict sd;
  sd["f32"] = at::randn({3, 5});
  sd["f16"] = at::randn({4}).to(at::kHalf);
  sd["bf16"] = at::randn({2, 2}).to(at::kBFloat16);
  sd["f64"] = at::randn({2}, at::kDouble);
  sd["i64"] = at::arange(-3, 3, at::kLong);
  sd["i32"] = at::arange(5, at::kInt);
  sd["u8"] = at::arange(250, 256, at::kLong).to(at::kByte);
  sd["bool"] = at::tensor(std::vector<int64_t>{1, 0, 1}).to(at::kBool);
  sd["scalar"] = at::scalar_tensor(4.6052, at::kFloat);
  sd["empty"] = at::empty({0, 7});
  sd["non_contiguous"] = at::randn({4, 6}).t();
  sd["name with \"quotes\" and \\ and \xc3\xa9"] = at::ones({1});
  save_safetensors(path, sd, {{"format", "pt"}, {"note", "line\nbreak"}});
  std::map<std::string, std::string> meta;
  const StateDict back = load_safetensors(path, &meta);
  REQUIRE(back.size() == sd.size());
  for (const auto& kv : sd) {
    CAPTURE(kv.first);
    REQUIRE(back.count(kv.first) == 1);
    CHECK((back.at(kv.first).scalar_type() == kv.second.scalar_type()));
    CHECK(back.at(kv.first).sizes() == kv.second.sizes());
    CHECK(back.at(kv.first).equal(kv.second));
  }
  CHECK(meta.at("format") == "pt");
  CHECK(meta.at("note") == "line\nbreak");
  // The header length is little-endian and the data section 8-byte aligned.
  std::ifstream in(path, std::ios::binary);
  unsigned char len[8];
  in.read(reinterpret_cast<char*>(len), 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len[i];
  CHECK((8 + n) % 8 == 0);
}

TEST_CASE("a hand-written safetensors header with reordered fields and escapes parses") {
  TempDir dir;
  const auto path = dir.file("hand.safetensors");
  const std::string header =
      R"({"__metadata__":{"k":"v\u00e9"}, "b" : {"shape":[2],"data_offsets":[8,16],"dtype":"I32"},)"
      R"( "a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}  )";
  std::string bytes;
  for (int i = 0; i < 8; ++i) bytes += char((header.size() >> (8 * i)) & 0xff);
  bytes += header;
  const float a[2] = {1.5f, -2.0f};
  const int32_t b[2] = {7, -9};
  bytes.append(reinterpret_cast<const char*>(a), 8);
  bytes.append(reinterpret_cast<const char*>(b), 8);
  write_text(path, bytes);
  std::map<std::string, std::string> meta;
  const StateDict sd = load_safetensors(path, &meta);
  CHECK(meta.at("k") == "v\xc3\xa9");
  CHECK(sd.at("a")[1].item<float>() == -2.0f);
  CHECK(sd.at("b")[1].item<int32_t>() == -9);
}

TEST_CASE("bad files give clear errors naming the file and the tensor") {
  TempDir dir;
  const StateDict sd = make_random_clip_state_dict(ovseg_test::small_geometry(), 9);

  SUBCASE("missing file") {
    const auto path = dir.file("nope.safetensors");
    const std::string msg = error_of([&] { ClipModel::load(path); });
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find("cannot open") != std::string::npos);
  }
  SUBCASE("truncated safetensors") {
    const auto path = dir.file("cut.safetensors");
    save_safetensors(path, sd);
    truncate_file(path, 0.5);
    const std::string msg = error_of([&] { ClipModel::load(path); });
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find("truncated") != std::string::npos);
  }
  SUBCASE("safetensors cut inside its header") {
    const auto path = dir.file("cut_header.safetensors");
    save_safetensors(path, sd);
    truncate_file(path, 0.0005);
    const std::string msg = error_of([&] { load_safetensors(path); });
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find("truncated") != std::string::npos);
  }
  SUBCASE("corrupt safetensors header") {
    const auto path = dir.file("corrupt.safetensors");
    const std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";  // missing '}'
    std::string bytes;
    for (int i = 0; i < 8; ++i) bytes += char((header.size() >> (8 * i)) & 0xff);
    write_text(path, bytes + header + std::string(8, '\0'));
    const std::string msg = error_of([&] { load_state_dict(path); });
    CHECK(msg.find(path) != std::string::npos);
    // One line naming the byte, never the JSON library's own text.
    CHECK(msg.find("corrupt JSON header at byte " + std::to_string(header.size() + 1) + " of " +
                   std::to_string(header.size())) != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);
    CHECK(msg.find("json.exception") == std::string::npos);
  }
  SUBCASE("safetensors header with a fractional or negative shape") {
    for (const std::string dim : {"2.5", "-2"}) {
      const auto path = dir.file("shape.safetensors");
      const std::string header = R"({"w":{"dtype":"F32","shape":[)" + dim + R"(],"data_offsets":[0,8]}})";
      std::string bytes;
      for (int i = 0; i < 8; ++i) bytes += char((header.size() >> (8 * i)) & 0xff);
      write_text(path, bytes + header + std::string(8, '\0'));
      const std::string msg = error_of([&] { load_safetensors(path); });
      CHECK(msg == "safetensors file '" + path + "': tensor 'w': 'shape' must hold non-negative integers");
    }
  }
  SUBCASE("safetensors offsets that disagree with the shape") {
    const auto path = dir.file("offsets.safetensors");
    const std::string header = R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})";
    std::string bytes;
    for (int i = 0; i < 8; ++i) bytes += char((header.size() >> (8 * i)) & 0xff);
    write_text(path, bytes + header + std::string(8, '\0'));
    const std::string msg = error_of([&] { load_state_dict(path); });
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find("'w'") != std::string::npos);
  }
  SUBCASE("a file that is not a checkpoint") {
    const auto path = dir.file("README.txt");
    write_text(path, "this is not a model\n");
    CHECK(detect_checkpoint_format(path) == CheckpointFormat::Unknown);
    const std::string msg = error_of([&] { ClipModel::load(path); });
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find("not a recognised checkpoint") != std::string::npos);
  }
  SUBCASE("a safetensors file of something else than CLIP") {
    const auto path = dir.file("other.safetensors");
    save_safetensors(path, {{"encoder.weight", at::ones({2})}});
    const std::string msg = error_of([&] { ClipModel::load(path); });
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find("does not look like a CLIP checkpoint") != std::string::npos);
  }
  SUBCASE("truncated zip archives") {
    const auto ts = dir.file("cut.pt");
    save_torchscript_state_dict(ts, sd);
    truncate_file(ts, 0.6);
    std::string msg = error_of([&] { ClipModel::load(ts); });
    CHECK(msg.find(ts) != std::string::npos);
    CHECK(msg.find("zip") != std::string::npos);
    const auto zip = dir.file("cut.pth");
    save_state_dict_zip(zip, sd);
    truncate_file(zip, 0.6);
    msg = error_of([&] { ClipModel::load(zip); });
    CHECK(msg.find(zip) != std::string::npos);
  }
  SUBCASE("a missing tensor is named") {
    StateDict partial = sd;
    partial.erase("visual.ln_post.bias");
    const auto path = dir.file("partial.safetensors");
    save_safetensors(path, partial);
    const std::string msg = error_of([&] { ClipModel::load(path); });
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find("missing tensor 'visual.ln_post.bias'") != std::string::npos);
  }
  SUBCASE("a missing Hugging Face q/k/v piece is named with its HF key") {
    StateDict hf = openai_to_hf_clip_layout(sd);
    hf.erase("vision_model.encoder.layers.1.self_attn.v_proj.bias");
    const auto path = dir.file("hf_partial.safetensors");
    save_safetensors(path, hf);
    const std::string msg = error_of([&] { ClipModel::load(path); });
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find("vision_model.encoder.layers.1.self_attn.v_proj.bias") != std::string::npos);
  }
  SUBCASE("a missing Hugging Face tensor outside the blocks is named with its HF key") {
    StateDict hf = openai_to_hf_clip_layout(sd);
    hf.erase("vision_model.post_layernorm.bias");
    const auto path = dir.file("hf_no_post_ln.safetensors");
    save_safetensors(path, hf);
    const std::string msg = error_of([&] { ClipModel::load(path); });
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find("missing tensor 'vision_model.post_layernorm.bias'") != std::string::npos);
  }
  SUBCASE("a misshaped tensor is named with expected and actual shapes") {
    StateDict bad = sd;
    bad["visual.proj"] = at::zeros({128, 31});
    bad["text_projection"] = at::zeros({128, 31});  // keep embed_dim consistent: 31
    bad["visual.class_embedding"] = at::zeros({127});
    const auto path = dir.file("bad_shape.pt");
    save_torchscript_state_dict(path, bad);
    const std::string msg = error_of([&] { ClipModel::load(path); });
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find("visual.class_embedding") != std::string::npos);
    CHECK(msg.find("[127]") != std::string::npos);
    CHECK(msg.find("[128]") != std::string::npos);
  }
}

TEST_CASE("SHA-256 matches the FIPS 180-4 test vectors") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  const std::string million(1000000, 'a');
  CHECK(sha256_hex(million) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  // Streaming in odd-sized pieces gives the same digest.
  Sha256 h;
  for (size_t i = 0; i < million.size(); i += 997)
    h.update(million.data() + i, std::min<size_t>(997, million.size() - i));
  CHECK(h.hex_digest() == sha256_hex(million));

  TempDir dir;
  const auto path = dir.file("blob.bin");
  write_text(path, million);
  CHECK(sha256_file(path) == sha256_hex(million));
  CHECK_THROWS_AS(sha256_file(dir.file("absent")), std::runtime_error);
}
