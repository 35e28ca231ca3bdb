// Private data tables of the CLIP tokenizer (generated into clip_tokenizer_tables.cpp).
#pragma once

#include <cstddef>

namespace ovseg::models::detail {

struct EntityEntry {
  const char* name;   // without the leading '&'; may end with ';'
  const char* value;  // UTF-8
};

// HTML5 named character references, sorted by name (byte order): both the
// forms with ';' and the legacy ones without (as Python's html.entities.html5).
extern const EntityEntry kHtml5Entities[];
extern const std::size_t kHtml5EntityCount;

}  // namespace ovseg::models::detail
