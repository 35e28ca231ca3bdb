// What the SAM stages share: one loaded model per checkpoint and device, and the checks that make a malformed
// Prompts / Masks value fail with the node, port and shape named.
#pragma once

#include <memory>
#include <string>

#include "ovseg/models/sam_model.hpp"
#include "ovseg/models/sam_predictor.hpp"
#include "ovseg/sdk/stage.hpp"

namespace ovseg::sam_plugins {

// `model`: a zoo name ("sam:vit_b", "mobilesam:vit_t", "ovseg:world-sam") or
// a checkpoint path (relative paths: the pipeline's folder first).
std::shared_ptr<models::SamModel> shared_sam_model(const StageInit& init, const std::string& model);

// The Model input as a SamModel (a clear error for another model's handle).
std::shared_ptr<models::SamModel> sam_model_input(StageContext& ctx, const std::string& port);

// Checks a Prompts value for `batch` images and returns P (prompts per
// image). Errors read "node 'n' input 'prompts': points has shape (...),
// expected (B, P, N, 2) with B = 2 images".
int64_t check_prompts(const Prompts& p, int64_t batch, int64_t mask_side, const std::string& node,
                      const std::string& port);

// Image port (B,3,H,W) -> the encoder's input (B,3,S,S) as SamPredictor
// makes it (8-bit RGB, Pillow resize, normalised, padded); fills `frame`.
at::Tensor sam_encoder_input(const at::Tensor& images, int64_t image_size, models::SamFrame* frame);

}  // namespace ovseg::sam_plugins
