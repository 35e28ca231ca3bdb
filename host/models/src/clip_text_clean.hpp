// Text cleaning of CLIP's tokenizer, kept apart from the split and the BPE
// (clip_tokenizer.cpp): UTF-8 <-> code points, Python's str.isspace and the
// regex module's \s, and clean_text = simple_tokenizer.py's
// whitespace_clean(basic_clean(text)).lower().
#pragma once

#include <string>
#include <string_view>

namespace ovseg::models::detail {

using U32 = std::u32string;

// Decodes UTF-8 like Python's bytes.decode('utf-8', 'replace'): each maximal
// ill-formed subpart becomes one U+FFFD.
U32 utf8_decode(std::string_view s);
std::string utf8_encode(const U32& s);

bool py_isspace(char32_t c);     // Python str.isspace() (str.strip, str.split)
bool regex_isspace(char32_t c);  // the `regex` module's \s

// ftfy.fix_text (subset, see clip_tokenizer.hpp) -> html.unescape twice ->
// strip -> collapse \s+ to one space -> lower(): what CLIP's split sees.
U32 clean_text(const U32& text);

}  // namespace ovseg::models::detail
