#pragma once
// Random CLIP checkpoints in OpenAI layout, for tests, benchmarks and demos
// that need a model without real weights. Deterministic for a given seed.

#include <ovseg/models/clip_model.hpp>

#include <cstdint>

namespace ovseg::models {

// Every tensor openai/CLIP's state_dict has for a ViT model of geometry `g`
// (plus input_resolution/context_length/vocab_size as the published
// TorchScript archives carry), float32, initialised with CLIP-like scales so
// activations stay sane. uninitialized=true returns at::empty tensors (shape
// checks only; no RNG cost for ViT-L sizes). Heads must equal width/64 for the
// loader to infer the same geometry back.
StateDict make_random_clip_state_dict(const ClipGeometry& g, uint64_t seed, bool uninitialized = false);

}  // namespace ovseg::models
