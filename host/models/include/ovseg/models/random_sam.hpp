#pragma once
// Random SAM checkpoints in the official key layout (every tensor
// segment_anything's / MobileSAM's Sam.state_dict() has, with its shape), for
// tests, benchmarks and the start of training. Deterministic for a seed.

#include <ovseg/models/sam_model.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace ovseg::models {

// Published shapes: "vit_b", "vit_l", "vit_h" (build_sam.py), "mobile_sam"
// (MobileSAM build_sam_vit_t, 1000-class TinyViT head kept); small ones for
// tests: "vit_test" (ViT width 64 x 4 blocks, 2 heads, 256 px, window 6,
// global blocks 1 and 3; decoder width 64, mlp 128), "vit_1024_test" (the
// same widths at SAM's 1024 px geometry: window 14, 3 blocks, the last
// global), "tiny_vit_test"
// (TinyViT widths 16,32,48,320, depths 1,2,2,1 at 1024 px with the full
// 256-wide decoder: MobileSAM's code hard-codes a 64x64 grid and a 256-wide
// neck); and "world", the shape of the embedded world SAM. Throws on unknown
// names, listing the known ones.
SamGeometry sam_geometry_preset(const std::string& name);
std::vector<std::string> sam_geometry_preset_names();

// Fills the derived fields (image_size, embedding_grid, ...) of a geometry
// whose encoder, widths and decoder fields are set.
void finalize_sam_geometry(SamGeometry& g);

// Weights ~ N(0, 1/fan_in), biases and norms perturbed around their usual
// values (so a loader that drops or swaps them is caught), relative-position
// tables and attention biases large enough to matter, BatchNorm statistics
// positive. uninitialized=true returns at::empty tensors (layout only).
StateDict make_random_sam_state_dict(const SamGeometry& g, uint64_t seed, bool uninitialized = false);

}  // namespace ovseg::models
