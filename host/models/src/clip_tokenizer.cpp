// CLIP BPE tokenizer; see clip_tokenizer.hpp for the behaviour and the
// subset of ftfy that is reproduced.
#include "ovseg/models/clip_tokenizer.hpp"

#include "clip_tokenizer_tables.hpp"

#include <ATen/ATen.h>
#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utf16.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <unordered_map>

namespace ovseg::models {
namespace {

using U32 = std::u32string;

constexpr int kNumMerges = 49152 - 256 - 2;  // lines 1..kNumMerges of the file

// ---------------------------------------------------------------- UTF-8 ----

// Decodes UTF-8 like Python's bytes.decode('utf-8', 'replace'): each maximal
// ill-formed subpart becomes one U+FFFD.
U32 utf8_decode(std::string_view s) {
  U32 out;
  out.reserve(s.size());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned char b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      out.push_back(b);
      ++i;
      continue;
    }
    int need = 0;
    char32_t cp = 0;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the 2nd byte
    if (b >= 0xC2 && b <= 0xDF) {
      need = 1;
      cp = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
      need = 2;
      cp = b & 0x0F;
      if (b == 0xE0) lo = 0xA0;
      if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      need = 3;
      cp = b & 0x07;
      if (b == 0xF0) lo = 0x90;
      if (b == 0xF4) hi = 0x8F;
    } else {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    std::size_t j = i + 1;
    bool ok = true;
    for (int k = 0; k < need; ++k, ++j) {
      if (j >= n) {
        ok = false;
        break;
      }
      const unsigned char c = static_cast<unsigned char>(s[j]);
      const unsigned char l = k == 0 ? lo : 0x80, h = k == 0 ? hi : 0xBF;
      if (c < l || c > h) {
        ok = false;
        break;
      }
      cp = (cp << 6) | (c & 0x3F);
    }
    if (ok) {
      out.push_back(cp);
    } else {
      out.push_back(0xFFFD);
    }
    i = j;
  }
  return out;
}

void utf8_append(std::string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::string utf8_encode(const U32& s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) utf8_append(out, c);
  return out;
}

bool all_ascii(const U32& s) {
  for (char32_t c : s)
    if (c >= 0x80) return false;
  return true;
}

// ------------------------------------------------------------------ ICU ----

icu::UnicodeString to_icu(const U32& s) {
  return icu::UnicodeString::fromUTF32(reinterpret_cast<const UChar32*>(s.data()),
                                       static_cast<int32_t>(s.size()));
}

U32 from_icu(const icu::UnicodeString& us) {
  U32 out;
  out.reserve(static_cast<std::size_t>(us.length()));
  for (int32_t i = 0; i < us.length();) {
    const UChar32 c = us.char32At(i);
    out.push_back(static_cast<char32_t>(c));
    i += U16_LENGTH(c);
  }
  return out;
}

const icu::Normalizer2& normalizer(bool nfkc) {
  UErrorCode err = U_ZERO_ERROR;
  const icu::Normalizer2* n =
      nfkc ? icu::Normalizer2::getNFKCInstance(err) : icu::Normalizer2::getNFCInstance(err);
  if (U_FAILURE(err) || n == nullptr)
    throw std::runtime_error(std::string("ClipTokenizer: ICU normalizer unavailable: ") +
                             u_errorName(err));
  return *n;
}

U32 normalize(const U32& s, bool nfkc) {
  if (all_ascii(s)) return s;
  const icu::Normalizer2& n = normalizer(nfkc);
  UErrorCode err = U_ZERO_ERROR;
  const icu::UnicodeString us = to_icu(s);
  if (n.isNormalized(us, err) && U_SUCCESS(err)) return s;
  err = U_ZERO_ERROR;
  const icu::UnicodeString r = n.normalize(us, err);
  if (U_FAILURE(err))
    throw std::runtime_error(std::string("ClipTokenizer: normalisation failed: ") +
                             u_errorName(err));
  return from_icu(r);
}

// Python str.lower(): full lower-case mappings with the final-sigma rule,
// locale independent (ICU's root locale).
U32 lower(const U32& s) {
  if (all_ascii(s)) {
    U32 out = s;
    for (char32_t& c : out)
      if (c >= 'A' && c <= 'Z') c += 32;
    return out;
  }
  icu::UnicodeString us = to_icu(s);
  us.toLower(icu::Locale::getRoot());
  return from_icu(us);
}

// ------------------------------------------------------ character classes ----

// Python str.isspace() (used by str.strip()).
bool py_isspace(char32_t c) {
  if (c >= 0x09 && c <= 0x0D) return true;
  if (c >= 0x1C && c <= 0x20) return true;
  switch (c) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
    case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

// The `regex` module's \s: str.isspace() without U+001C..U+001F.
bool regex_isspace(char32_t c) { return py_isspace(c) && !(c >= 0x1C && c <= 0x1F); }

bool is_decimal_digit(char32_t c) {  // Python re's \d for str patterns (Nd)
  if (c < 0x80) return c >= '0' && c <= '9';
  return u_charType(static_cast<UChar32>(c)) == U_DECIMAL_DIGIT_NUMBER;
}

enum class CharClass { kLetter, kNumber, kSpace /* matched by nothing */, kOther };

// Class of a character in CLIP's pattern under IGNORECASE: [\p{L}], [\p{N}],
// \s, or the rest ([^\s\p{L}\p{N}]).
CharClass char_class(char32_t c) {
  if (c < 0x80) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return CharClass::kLetter;
    if (c >= '0' && c <= '9') return CharClass::kNumber;
    if (regex_isspace(c)) return CharClass::kSpace;
    return CharClass::kOther;
  }
  if (regex_isspace(c)) return CharClass::kSpace;
  switch (u_charType(static_cast<UChar32>(c))) {
    case U_UPPERCASE_LETTER:
    case U_LOWERCASE_LETTER:
    case U_TITLECASE_LETTER:
    case U_MODIFIER_LETTER:
    case U_OTHER_LETTER:
      return CharClass::kLetter;
    case U_DECIMAL_DIGIT_NUMBER:
    case U_LETTER_NUMBER:
    case U_OTHER_NUMBER:
      return CharClass::kNumber;
    default:
      break;
  }
  // IGNORECASE quirk of the regex module: U+0345 COMBINING GREEK
  // YPOGEGRAMMENI (Mn) has the letter U+0399/U+03B9 among its case variants,
  // so neither [\p{L}] nor the negated class [^\s\p{L}\p{N}] matches it and
  // findall skips it like whitespace.
  if (c == 0x0345) return CharClass::kSpace;
  return CharClass::kOther;
}

// Case-insensitive match of an ASCII literal (lower case) at text[pos],
// with the regex module's simple case folding (only 's' has a non-ASCII
// variant among the letters used: U+017F LATIN SMALL LETTER LONG S).
bool match_literal_ci(const U32& text, std::size_t pos, std::string_view lit) {
  if (pos + lit.size() > text.size()) return false;
  for (std::size_t k = 0; k < lit.size(); ++k) {
    char32_t c = text[pos + k];
    const char l = lit[k];
    if (c >= 'A' && c <= 'Z') c += 32;
    if (c == static_cast<char32_t>(static_cast<unsigned char>(l))) continue;
    if (l == 's' && c == 0x017F) continue;
    return false;
  }
  return true;
}

// ---------------------------------------------------------- HTML entities ----

const detail::EntityEntry* find_entity(const detail::EntityEntry* table, std::size_t count,
                                       std::string_view name) {
  const detail::EntityEntry* end = table + count;
  const detail::EntityEntry* it =
      std::lower_bound(table, end, name, [](const detail::EntityEntry& e, std::string_view n) {
        return std::string_view(e.name) < n;
      });
  if (it != end && std::string_view(it->name) == name) return it;
  return nullptr;
}

// Name as ASCII, or false when it holds a non-ASCII character (no entity has one).
bool ascii_name(const U32& text, std::size_t begin, std::size_t end, std::string& out) {
  out.clear();
  for (std::size_t i = begin; i < end; ++i) {
    if (text[i] >= 0x80) return false;
    out.push_back(static_cast<char>(text[i]));
  }
  return true;
}

const detail::EntityEntry* html5_entity(std::string_view name) {
  return find_entity(detail::kHtml5Entities, detail::kHtml5EntityCount, name);
}

// Python html._invalid_charrefs / _invalid_codepoints.
bool charref_override(uint64_t num, U32& out) {
  static const std::array<char32_t, 32> kC1 = {
      0x20AC, 0x81,   0x201A, 0x192,  0x201E, 0x2026, 0x2020, 0x2021, 0x2C6,  0x2030, 0x160,
      0x2039, 0x152,  0x8D,   0x17D,  0x8F,   0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
      0x2013, 0x2014, 0x2DC,  0x2122, 0x161,  0x203A, 0x153,  0x9D,   0x17E,  0x178};
  if (num == 0x00) {
    out.push_back(0xFFFD);
    return true;
  }
  if (num == 0x0D) {
    out.push_back(0x0D);
    return true;
  }
  if (num >= 0x80 && num <= 0x9F) {
    out.push_back(kC1[num - 0x80]);
    return true;
  }
  return false;
}

bool invalid_codepoint(uint64_t num) {
  if ((num >= 0x1 && num <= 0x8) || num == 0xB || (num >= 0xE && num <= 0x1F) ||
      (num >= 0x7F && num <= 0x9F) || (num >= 0xFDD0 && num <= 0xFDEF))
    return true;
  return (num & 0xFFFE) == 0xFFFE && num <= 0x10FFFF;
}

bool is_ascii_digit(char32_t c) { return c >= '0' && c <= '9'; }
bool is_ascii_hex(char32_t c) {
  return is_ascii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool is_ascii_alnum(char32_t c) {
  return is_ascii_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// Python's html.unescape (HTML5 rules, full named-reference table).
U32 html_unescape(const U32& s) {
  if (s.find(U'&') == U32::npos) return s;
  U32 out;
  out.reserve(s.size());
  std::string name;
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    if (s[i] != U'&') {
      out.push_back(s[i++]);
      continue;
    }
    const std::size_t start = i + 1;  // after '&'
    // numeric: #[0-9]+;? | #[xX][0-9a-fA-F]+;?
    if (start < n && s[start] == U'#') {
      std::size_t j = start + 1;
      bool hex = false;
      std::size_t digits_begin = j;
      if (j < n && is_ascii_digit(s[j])) {
        while (j < n && is_ascii_digit(s[j])) ++j;
      } else if (j < n && (s[j] == U'x' || s[j] == U'X') && j + 1 < n && is_ascii_hex(s[j + 1])) {
        hex = true;
        digits_begin = j + 1;
        j = digits_begin;
        while (j < n && is_ascii_hex(s[j])) ++j;
      } else {
        out.push_back(U'&');  // no reference here; '#' is not a name character
        i = start;
        continue;
      }
      uint64_t num = 0;
      for (std::size_t k = digits_begin; k < j; ++k) {
        const char32_t c = s[k];
        const uint64_t d = is_ascii_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10;
        num = num * (hex ? 16 : 10) + d;
        if (num > 0x10FFFF) num = 0x110000;  // saturate: only "too large" matters
      }
      if (j < n && s[j] == U';') ++j;
      if (!charref_override(num, out)) {
        if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF)
          out.push_back(0xFFFD);
        else if (!invalid_codepoint(num))
          out.push_back(static_cast<char32_t>(num));
      }
      i = j;
      continue;
    }
    // named: [^\t\n\f <&#;]{1,32};?
    std::size_t j = start;
    while (j < n && j - start < 32) {
      const char32_t c = s[j];
      if (c == U'\t' || c == U'\n' || c == U'\f' || c == U' ' || c == U'<' || c == U'&' ||
          c == U'#' || c == U';')
        break;
      ++j;
    }
    if (j == start) {
      out.push_back(U'&');
      i = start;
      continue;
    }
    if (j < n && s[j] == U';') ++j;
    // s = text[start:j]
    bool done = false;
    if (ascii_name(s, start, j, name)) {
      if (const auto* e = html5_entity(name)) {
        out += utf8_decode(e->value);
        done = true;
      }
    }
    if (!done) {
      // longest prefix (at least 2 characters) that is an entity name
      for (std::size_t x = j - start - 1; x > 1; --x) {
        if (!ascii_name(s, start, start + x, name)) continue;
        if (const auto* e = html5_entity(name)) {
          out += utf8_decode(e->value);
          out.append(s, start + x, j - (start + x));
          done = true;
          break;
        }
      }
    }
    if (!done) {
      out.push_back(U'&');
      out.append(s, start, j - start);
    }
    i = j;
  }
  return out;
}

// The all-caps entity names ftfy also decodes ("EACUTE;" -> "É"): for each
// HTML5 name that ends in ';' and is all lower case, its upper-cased name maps
// to the upper-cased value, unless html.unescape would already decode that
// upper-cased name.
const std::string* upper_entity(const std::string& name) {
  static const std::unordered_map<std::string, std::string> table = [] {
    std::unordered_map<std::string, std::string> t;
    for (std::size_t k = 0; k < detail::kHtml5EntityCount; ++k) {
      const std::string n = detail::kHtml5Entities[k].name;
      if (n.empty() || n.back() != ';') continue;
      std::string up = n;
      bool is_lower = true;
      for (char& c : up) {
        if (c >= 'A' && c <= 'Z') is_lower = false;
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
      }
      if (!is_lower) continue;
      const U32 entity = utf8_decode("&" + up);
      if (html_unescape(entity) != entity) continue;
      icu::UnicodeString v = to_icu(utf8_decode(detail::kHtml5Entities[k].value));
      v.toUpper(icu::Locale::getRoot());
      t.emplace(up, utf8_encode(from_icu(v)));
    }
    return t;
  }();
  const auto it = table.find(name);
  return it == table.end() ? nullptr : &it->second;
}

// ftfy.fixes.unescape_html: only '&#?[0-9A-Za-z]{1,24};' references, HTML5
// names ending in ';' plus ftfy's all-caps Latin names, and numeric
// references that html.unescape decodes up to and including the ';'.
U32 ftfy_unescape_html(const U32& s) {
  if (s.find(U'&') == U32::npos) return s;
  U32 out;
  out.reserve(s.size());
  std::string name;
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    if (s[i] != U'&') {
      out.push_back(s[i++]);
      continue;
    }
    std::size_t j = i + 1;
    const bool numeric = j < n && s[j] == U'#';
    if (numeric) ++j;
    const std::size_t name_begin = j;
    while (j < n && is_ascii_alnum(s[j])) ++j;
    const std::size_t len = j - name_begin;
    if (len < 1 || len > 24 || j >= n || s[j] != U';') {
      out.push_back(s[i++]);
      continue;
    }
    const std::size_t end = j + 1;  // past ';'
    const U32 match = s.substr(i, end - i);
    if (!numeric) {
      ascii_name(s, name_begin, end, name);  // "name;"
      if (const detail::EntityEntry* e = html5_entity(name))
        out += utf8_decode(e->value);
      else if (const std::string* v = upper_entity(name))
        out += utf8_decode(*v);
      else
        out += match;
    } else {
      const U32 unescaped = html_unescape(match);
      if (unescaped.find(U';') != U32::npos)
        out += match;
      else
        out += unescaped;
    }
    i = end;
  }
  return out;
}

// -------------------------------------------------------- ftfy.fix_text ----

U32 fix_c1_controls(const U32& s) {
  U32 out = s;
  for (char32_t& c : out) {
    if (c >= 0x80 && c <= 0x9F) {
      U32 tmp;
      charref_override(c, tmp);  // sloppy-windows-1252 == the HTML5 C1 table
      c = tmp[0];
    }
  }
  return out;
}

U32 fix_latin_ligatures(const U32& s) {
  U32 out;
  out.reserve(s.size());
  for (char32_t c : s) {
    switch (c) {
      case 0x0132: out += U"IJ"; break;
      case 0x0133: out += U"ij"; break;
      case 0x0149: out += U"\u02BCn"; break;
      case 0x01F1: out += U"DZ"; break;
      case 0x01F2: out += U"Dz"; break;
      case 0x01F3: out += U"dz"; break;
      case 0x01C4: out += U"D\u017D"; break;
      case 0x01C5: out += U"D\u017E"; break;
      case 0x01C6: out += U"d\u017E"; break;
      case 0x01C7: out += U"LJ"; break;
      case 0x01C8: out += U"Lj"; break;
      case 0x01C9: out += U"lj"; break;
      case 0x01CA: out += U"NJ"; break;
      case 0x01CB: out += U"Nj"; break;
      case 0x01CC: out += U"nj"; break;
      case 0xFB00: out += U"ff"; break;
      case 0xFB01: out += U"fi"; break;
      case 0xFB02: out += U"fl"; break;
      case 0xFB03: out += U"ffi"; break;
      case 0xFB04: out += U"ffl"; break;
      case 0xFB05: out += U"\u017Ft"; break;
      case 0xFB06: out += U"st"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

// U+3000 -> ' ', and U+FF01..U+FFEF -> their NFKC form where it differs.
const std::array<U32, 0xFFF0 - 0xFF01>& width_map() {
  static const std::array<U32, 0xFFF0 - 0xFF01> table = [] {
    std::array<U32, 0xFFF0 - 0xFF01> t;
    for (char32_t c = 0xFF01; c < 0xFFF0; ++c) {
      const U32 one(1, c);
      U32 alt = normalize(one, /*nfkc=*/true);
      if (alt != one) t[c - 0xFF01] = std::move(alt);
    }
    return t;
  }();
  return table;
}

U32 fix_character_width(const U32& s) {
  U32 out;
  out.reserve(s.size());
  for (char32_t c : s) {
    if (c == 0x3000) {
      out.push_back(U' ');
    } else if (c >= 0xFF01 && c < 0xFFF0 && !width_map()[c - 0xFF01].empty()) {
      out += width_map()[c - 0xFF01];
    } else {
      out.push_back(c);
    }
  }
  return out;
}

U32 uncurl_quotes(const U32& s) {
  U32 out = s;
  for (char32_t& c : out) {
    if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B))
      c = U'\'';
    else if (c >= 0x201C && c <= 0x201F)
      c = U'"';
  }
  return out;
}

U32 fix_line_breaks(const U32& s) {
  U32 out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char32_t c = s[i];
    if (c == U'\r') {
      out.push_back(U'\n');
      if (i + 1 < s.size() && s[i + 1] == U'\n') ++i;
    } else if (c == 0x2028 || c == 0x2029 || c == 0x85) {
      out.push_back(U'\n');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// "\033\[((?:\d|;)*)([a-zA-Z])" with Python's Unicode \d.
U32 remove_terminal_escapes(const U32& s) {
  if (s.find(0x1B) == U32::npos) return s;
  U32 out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    if (s[i] == 0x1B && i + 1 < s.size() && s[i + 1] == U'[') {
      std::size_t j = i + 2;
      while (j < s.size() && (s[j] == U';' || is_decimal_digit(s[j]))) ++j;
      if (j < s.size() && ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z'))) {
        i = j + 1;
        continue;
      }
    }
    out.push_back(s[i++]);
  }
  return out;
}

U32 remove_control_chars(const U32& s) {
  U32 out;
  out.reserve(s.size());
  for (char32_t c : s) {
    const bool drop = c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F ||
                      (c >= 0x206A && c <= 0x206F) || c == 0xFEFF ||
                      (c >= 0xFFF9 && c <= 0xFFFC);
    if (!drop) out.push_back(c);
  }
  return out;
}

U32 fix_segment(U32 text, bool unescape) {
  while (true) {
    const U32 orig = text;
    if (unescape) text = ftfy_unescape_html(text);
    // (fix_encoding: mojibake repair is not reproduced; see the header.)
    text = fix_c1_controls(text);
    text = fix_latin_ligatures(text);
    text = fix_character_width(text);
    text = uncurl_quotes(text);
    text = fix_line_breaks(text);
    // fix_surrogates: decoded UTF-8 never holds surrogate code points.
    text = remove_terminal_escapes(text);
    text = remove_control_chars(text);
    text = normalize(text, /*nfkc=*/false);
    if (text == orig) return text;
  }
}

// ftfy.fix_text with its default configuration, line by line (and in pieces
// of at most max_decode_length characters).
constexpr std::size_t kMaxDecodeLength = 1000000;
U32 ftfy_fix_text(const U32& text) {
  U32 out;
  out.reserve(text.size());
  bool unescape = true;  // "auto": turned off for good once a line holds '<'
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t nl = text.find(U'\n', pos);
    std::size_t end = nl == U32::npos ? text.size() : nl + 1;
    if (end - pos > kMaxDecodeLength) end = pos + kMaxDecodeLength;
    U32 segment = text.substr(pos, end - pos);
    if (unescape && segment.find(U'<') != U32::npos) unescape = false;
    out += fix_segment(std::move(segment), unescape);
    pos = end;
  }
  return out;
}

U32 py_strip(const U32& s) {
  std::size_t b = 0, e = s.size();
  while (b < e && py_isspace(s[b])) ++b;
  while (e > b && py_isspace(s[e - 1])) --e;
  return s.substr(b, e - b);
}

U32 whitespace_clean(const U32& s) {
  U32 out;
  out.reserve(s.size());
  bool in_space = false;
  for (char32_t c : s) {
    if (regex_isspace(c)) {
      if (!in_space) out.push_back(U' ');
      in_space = true;
    } else {
      out.push_back(c);
      in_space = false;
    }
  }
  return py_strip(out);
}

U32 clean_text(const U32& text) {
  U32 t = ftfy_fix_text(text);
  t = html_unescape(html_unescape(t));
  t = py_strip(t);
  return lower(whitespace_clean(t));
}

// CLIP's re.findall over the cleaned text; returns [begin, end) pieces.
std::vector<std::pair<std::size_t, std::size_t>> split_pieces(const U32& t) {
  static constexpr std::string_view kLiterals[] = {"<|startoftext|>", "<|endoftext|>", "'s",
                                                   "'t", "'re", "'ve", "'m", "'ll", "'d"};
  std::vector<std::pair<std::size_t, std::size_t>> pieces;
  const std::size_t n = t.size();
  std::size_t i = 0;
  while (i < n) {
    bool matched = false;
    if (t[i] == U'<' || t[i] == U'\'') {
      for (std::string_view lit : kLiterals) {
        if (match_literal_ci(t, i, lit)) {
          pieces.emplace_back(i, i + lit.size());
          i += lit.size();
          matched = true;
          break;
        }
      }
    }
    if (matched) continue;
    const CharClass cls = char_class(t[i]);
    if (cls == CharClass::kSpace) {
      ++i;
      continue;
    }
    if (cls == CharClass::kNumber) {
      pieces.emplace_back(i, i + 1);
      ++i;
      continue;
    }
    std::size_t j = i + 1;
    while (j < n && char_class(t[j]) == cls) ++j;
    pieces.emplace_back(i, j);
    i = j;
  }
  return pieces;
}

// bytes_to_unicode(): printable bytes map to themselves, the others to 256+n.
std::array<char32_t, 256> bytes_to_unicode(std::array<int, 256>& order) {
  std::array<char32_t, 256> table{};
  std::vector<int> bs;
  for (int b = '!'; b <= '~'; ++b) bs.push_back(b);
  for (int b = 0xA1; b <= 0xAC; ++b) bs.push_back(b);
  for (int b = 0xAE; b <= 0xFF; ++b) bs.push_back(b);
  std::vector<char32_t> cs(bs.begin(), bs.end());
  int extra = 0;
  for (int b = 0; b < 256; ++b) {
    if (std::find(bs.begin(), bs.end(), b) == bs.end()) {
      bs.push_back(b);
      cs.push_back(static_cast<char32_t>(256 + extra++));
    }
  }
  for (std::size_t k = 0; k < 256; ++k) {
    table[bs[k]] = cs[k];
    order[k] = bs[k];
  }
  return table;
}

std::string read_maybe_gzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr)
    throw std::runtime_error("ClipTokenizer: cannot open BPE vocabulary '" + path + "'");
  std::string data;
  std::vector<char> buf(1 << 16);
  while (true) {
    const int got = gzread(f, buf.data(), static_cast<unsigned>(buf.size()));
    if (got < 0) {
      int errnum = 0;
      const std::string msg = gzerror(f, &errnum);
      gzclose(f);
      throw std::runtime_error("ClipTokenizer: cannot read BPE vocabulary '" + path + "': " + msg);
    }
    if (got == 0) break;
    data.append(buf.data(), static_cast<std::size_t>(got));
  }
  gzclose(f);
  return data;
}

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

}  // namespace

// ------------------------------------------------------------------ Impl ----

struct ClipTokenizer::Impl {
  std::array<char32_t, 256> byte_encoder{};
  std::unordered_map<char32_t, unsigned char> byte_decoder;
  std::array<int32_t, 256> byte_id{};       // id of the byte's character
  std::array<int32_t, 256> byte_end_id{};   // id of the byte's character + "</w>"
  std::vector<std::string> id_bytes;         // decoded bytes of each vocabulary entry
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> ranks;  // pair -> (rank, merged)
  int64_t sot = 0, eot = 0, vocab = 0;

  mutable std::mutex cache_mutex;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache;

  std::vector<int32_t> bpe(const std::string& bytes) const;
};

std::vector<int32_t> ClipTokenizer::Impl::bpe(const std::string& bytes) const {
  std::vector<int32_t> word;
  word.reserve(bytes.size());
  for (std::size_t k = 0; k < bytes.size(); ++k) {
    const auto b = static_cast<unsigned char>(bytes[k]);
    word.push_back(k + 1 == bytes.size() ? byte_end_id[b] : byte_id[b]);
  }
  std::vector<int32_t> next;
  while (word.size() > 1) {
    int32_t best_rank = INT32_MAX, first = -1, second = -1, merged = -1;
    for (std::size_t k = 0; k + 1 < word.size(); ++k) {
      const auto it = ranks.find(pair_key(word[k], word[k + 1]));
      if (it != ranks.end() && it->second.first < best_rank) {
        best_rank = it->second.first;
        first = word[k];
        second = word[k + 1];
        merged = it->second.second;
      }
    }
    if (merged < 0) break;
    next.clear();
    for (std::size_t k = 0; k < word.size();) {
      if (word[k] == first && k + 1 < word.size() && word[k + 1] == second) {
        next.push_back(merged);
        k += 2;
      } else {
        next.push_back(word[k]);
        ++k;
      }
    }
    word.swap(next);
  }
  return word;
}

ClipTokenizer::ClipTokenizer(const std::string& bpe_vocab_path) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  std::array<int, 256> order{};
  m.byte_encoder = bytes_to_unicode(order);
  for (int b = 0; b < 256; ++b) m.byte_decoder[m.byte_encoder[b]] = static_cast<unsigned char>(b);

  const std::string data = read_maybe_gzip(bpe_vocab_path);
  // lines = data.split('\n')[1 : kNumMerges + 1]
  std::vector<std::string_view> lines;
  {
    std::string_view rest(data);
    while (true) {
      const std::size_t nl = rest.find('\n');
      lines.push_back(rest.substr(0, nl));
      if (nl == std::string_view::npos) break;
      rest.remove_prefix(nl + 1);
    }
  }
  if (lines.size() < static_cast<std::size_t>(kNumMerges) + 1)
    throw std::runtime_error("ClipTokenizer: BPE vocabulary '" + bpe_vocab_path + "' has " +
                             std::to_string(lines.size()) + " lines, expected at least " +
                             std::to_string(kNumMerges + 1) +
                             " (is it bpe_simple_vocab_16e6.txt.gz, and complete?)");

  // Vocabulary strings (UTF-8), in the reference's order.
  std::vector<std::string> vocab;
  vocab.reserve(512 + kNumMerges + 2);
  for (int k = 0; k < 256; ++k) vocab.push_back(utf8_encode(U32(1, m.byte_encoder[order[k]])));
  for (int k = 0; k < 256; ++k) vocab.push_back(vocab[k] + "</w>");
  std::vector<std::vector<std::string>> merges;
  merges.reserve(kNumMerges);
  for (int k = 1; k <= kNumMerges; ++k) {
    std::vector<std::string> parts;  // str.split(): runs of Unicode whitespace
    const U32 line = utf8_decode(lines[k]);
    std::size_t p = 0;
    while (p < line.size()) {
      while (p < line.size() && py_isspace(line[p])) ++p;
      std::size_t q = p;
      while (q < line.size() && !py_isspace(line[q])) ++q;
      if (q > p) parts.push_back(utf8_encode(line.substr(p, q - p)));
      p = q;
    }
    std::string joined;
    for (auto part : parts) joined += part;
    vocab.push_back(joined);
    merges.push_back(std::move(parts));
  }
  vocab.emplace_back("<|startoftext|>");
  vocab.emplace_back("<|endoftext|>");

  std::unordered_map<std::string, int32_t> encoder;  // later entries win, as dict(zip())
  encoder.reserve(vocab.size() * 2);
  for (std::size_t k = 0; k < vocab.size(); ++k) encoder[vocab[k]] = static_cast<int32_t>(k);

  for (int k = 0; k < 256; ++k) {
    const int b = order[k];
    m.byte_id[b] = encoder.at(vocab[k]);
    m.byte_end_id[b] = encoder.at(vocab[256 + k]);
  }
  m.ranks.reserve(merges.size() * 2);
  for (std::size_t r = 0; r < merges.size(); ++r) {
    const auto& parts = merges[r];
    if (parts.size() != 2) continue;  // such a "pair" can never match
    const auto a = encoder.find(parts[0]);
    const auto b = encoder.find(parts[1]);
    const auto ab = encoder.find(parts[0] + parts[1]);
    if (a == encoder.end() || b == encoder.end() || ab == encoder.end()) continue;
    m.ranks.insert_or_assign(pair_key(a->second, b->second),
                             std::make_pair(static_cast<int32_t>(r), ab->second));
  }

  m.id_bytes.reserve(vocab.size());
  for (const std::string& v : vocab) {
    std::string bytes;
    for (char32_t c : utf8_decode(v)) {
      const auto it = m.byte_decoder.find(c);
      if (it == m.byte_decoder.end())
        throw std::runtime_error("ClipTokenizer: BPE vocabulary '" + bpe_vocab_path +
                                 "' holds a character outside the byte alphabet");
      bytes.push_back(static_cast<char>(it->second));
    }
    m.id_bytes.push_back(std::move(bytes));
  }
  m.sot = encoder.at("<|startoftext|>");
  m.eot = encoder.at("<|endoftext|>");
  m.vocab = static_cast<int64_t>(vocab.size());
}

ClipTokenizer::~ClipTokenizer() = default;
ClipTokenizer::ClipTokenizer(ClipTokenizer&&) noexcept = default;
ClipTokenizer& ClipTokenizer::operator=(ClipTokenizer&&) noexcept = default;

std::string ClipTokenizer::clean(const std::string& utf8_text) const {
  return utf8_encode(clean_text(utf8_decode(utf8_text)));
}

std::vector<int64_t> ClipTokenizer::encode(const std::string& utf8_text) const {
  const Impl& m = *impl_;
  const U32 text = clean_text(utf8_decode(utf8_text));
  std::vector<int64_t> ids;
  std::string piece;
  for (const auto& [b, e] : split_pieces(text)) {
    piece = utf8_encode(text.substr(b, e - b));
    if (piece == "<|startoftext|>") {
      ids.push_back(m.sot);
      continue;
    }
    if (piece == "<|endoftext|>") {
      ids.push_back(m.eot);
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(m.cache_mutex);
      const auto it = m.cache.find(piece);
      if (it != m.cache.end()) {
        ids.insert(ids.end(), it->second.begin(), it->second.end());
        continue;
      }
    }
    std::vector<int32_t> word = m.bpe(piece);
    ids.insert(ids.end(), word.begin(), word.end());
    std::lock_guard<std::mutex> lock(m.cache_mutex);
    if (m.cache.size() >= 200000) m.cache.clear();  // bound memory; results are unchanged
    m.cache.emplace(piece, std::move(word));
  }
  return ids;
}

std::string ClipTokenizer::decode(const std::vector<int64_t>& ids) const {
  const Impl& m = *impl_;
  std::string bytes;
  for (int64_t id : ids) {
    if (id < 0 || id >= m.vocab)
      throw std::out_of_range("ClipTokenizer::decode: token id " + std::to_string(id) +
                              " is outside the vocabulary [0, " + std::to_string(m.vocab) + ")");
    bytes += m.id_bytes[static_cast<std::size_t>(id)];
  }
  std::string text = utf8_encode(utf8_decode(bytes));
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    if (text.compare(i, 4, "</w>") == 0) {
      out.push_back(' ');
      i += 4;
    } else {
      out.push_back(text[i++]);
    }
  }
  return out;
}

std::vector<std::vector<int64_t>> ClipTokenizer::tokenize_ids(const std::vector<std::string>& texts,
                                                              int64_t context_length,
                                                              bool truncate) const {
  if (context_length < 1)
    throw std::invalid_argument("ClipTokenizer::tokenize: context_length must be >= 1, got " +
                                std::to_string(context_length));
  const auto ctx = static_cast<std::size_t>(context_length);
  std::vector<std::vector<int64_t>> rows;
  rows.reserve(texts.size());
  for (const std::string& text : texts) {
    std::vector<int64_t> tokens;
    tokens.push_back(impl_->sot);
    const std::vector<int64_t> ids = encode(text);
    tokens.insert(tokens.end(), ids.begin(), ids.end());
    tokens.push_back(impl_->eot);
    if (tokens.size() > ctx) {
      if (!truncate) {
        std::string shown = text.size() > 80 ? text.substr(0, 80) + "..." : text;
        throw std::length_error("ClipTokenizer::tokenize: input \"" + shown + "\" (" +
                                std::to_string(text.size()) + " bytes) is " +
                                std::to_string(tokens.size()) +
                                " tokens with start/end, too long for context length " +
                                std::to_string(context_length));
      }
      tokens.resize(ctx);
      tokens.back() = impl_->eot;
    }
    tokens.resize(ctx, 0);
    rows.push_back(std::move(tokens));
  }
  return rows;
}

at::Tensor ClipTokenizer::tokenize(const std::vector<std::string>& texts, int64_t context_length,
                                   bool truncate) const {
  const auto rows = tokenize_ids(texts, context_length, truncate);
  at::Tensor out = at::zeros({static_cast<int64_t>(rows.size()), context_length}, at::kLong);
  int64_t* p = out.data_ptr<int64_t>();
  for (const auto& row : rows) p = std::copy(row.begin(), row.end(), p);
  return out;
}

int64_t ClipTokenizer::sot_token() const { return impl_->sot; }
int64_t ClipTokenizer::eot_token() const { return impl_->eot; }
int64_t ClipTokenizer::vocab_size() const { return impl_->vocab; }

}  // namespace ovseg::models
