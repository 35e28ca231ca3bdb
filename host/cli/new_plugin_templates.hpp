// File templates for `ovseg new-plugin` (cmd_new_plugin.cpp fills them in).
#pragma once

namespace ovseg::cli {

extern const char* const kRefinementCMakeLists;
extern const char* const kRefinementSource;
extern const char* const kRefinementTest;
extern const char* const kRefinementPipeline;

// --kind clip-refinement (new_plugin_clip_templates.cpp); @WORLD_CLIP@ = the
// data folder's world CLIP.
extern const char* const kClipRefinementCMakeLists;
extern const char* const kClipRefinementSource;
extern const char* const kClipRefinementTest;
extern const char* const kClipRefinementPipeline;

}  // namespace ovseg::cli
