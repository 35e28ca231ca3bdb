// File templates for `ovseg new-plugin` (cmd_new_plugin.cpp fills them in).
#pragma once

namespace ovseg::cli {

extern const char* const kRefinementCMakeLists;
extern const char* const kRefinementSource;
extern const char* const kRefinementTest;
extern const char* const kRefinementPipeline;

}  // namespace ovseg::cli
