// Prompt template sets for CLIP text embeddings.
#pragma once

#include <string>
#include <vector>

namespace ovseg::clip_plugins {

// "imagenet80": the 80 templates OpenAI averaged for ImageNet zero-shot (the
// OVSS papers' default); "best7": the 7 of them OpenAI's prompt-engineering
// notebook found best; "single": "a photo of a {}.". Anything else is read
// as a file, one template per line, each containing "{}".
std::vector<std::string> template_set(const std::string& name_or_file);

// Replaces the first "{}" with `name`.
std::string apply_template(const std::string& tmpl, const std::string& name);

}  // namespace ovseg::clip_plugins
