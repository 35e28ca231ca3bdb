// CLIP's text cleaning, before any splitting or BPE: simple_tokenizer.py's
// basic_clean (ftfy.fix_text, html.unescape twice, strip) and
// whitespace_clean, then str.lower(). The subset of ftfy that is reproduced
// is described in ovseg/models/clip_tokenizer.hpp.
#include "clip_text_clean.hpp"

#include "clip_tokenizer_tables.hpp"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utf16.h>

#include <algorithm>
#include <array>
#include <stdexcept>
#include <string>
#include <unordered_map>

namespace ovseg::models::detail {

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

namespace {

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

}  // namespace

std::string utf8_encode(const U32& s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) utf8_append(out, c);
  return out;
}

namespace {

bool all_ascii(const U32& s) {
  for (char32_t c : s)
    if (c >= 0x80) return false;
  return true;
}

// ------------------------------------------------------------------ ICU ----

icu::UnicodeString to_icu(const U32& s) {
  return icu::UnicodeString::fromUTF32(reinterpret_cast<const UChar32*>(s.data()), static_cast<int32_t>(s.size()));
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
  const icu::Normalizer2* n = nfkc ? icu::Normalizer2::getNFKCInstance(err) : icu::Normalizer2::getNFCInstance(err);
  if (U_FAILURE(err) || n == nullptr)
    throw std::runtime_error(std::string("ClipTokenizer: ICU normalizer unavailable: ") + u_errorName(err));
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
  if (U_FAILURE(err)) throw std::runtime_error(std::string("ClipTokenizer: normalisation failed: ") + u_errorName(err));
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

}  // namespace

// Python str.isspace() (used by str.strip()).
bool py_isspace(char32_t c) {
  if (c >= 0x09 && c <= 0x0D) return true;
  if (c >= 0x1C && c <= 0x20) return true;
  switch (c) {
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000: return true;
    default: return c >= 0x2000 && c <= 0x200A;
  }
}

// The `regex` module's \s: str.isspace() without U+001C..U+001F.
bool regex_isspace(char32_t c) { return py_isspace(c) && !(c >= 0x1C && c <= 0x1F); }

namespace {

bool is_decimal_digit(char32_t c) {  // Python re's \d for str patterns (Nd)
  if (c < 0x80) return c >= '0' && c <= '9';
  return u_charType(static_cast<UChar32>(c)) == U_DECIMAL_DIGIT_NUMBER;
}

// ---------------------------------------------------------- HTML entities ----

const detail::EntityEntry* find_entity(const detail::EntityEntry* table, std::size_t count, std::string_view name) {
  const detail::EntityEntry* end = table + count;
  const detail::EntityEntry* it = std::lower_bound(table, end, name,
                                                   [](const detail::EntityEntry& e, std::string_view n) {
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
  static const std::array<char32_t, 32> kC1 = {0x20AC, 0x81,   0x201A, 0x192,  0x201E, 0x2026, 0x2020, 0x2021,
                                               0x2C6,  0x2030, 0x160,  0x2039, 0x152,  0x8D,   0x17D,  0x8F,
                                               0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
                                               0x2DC,  0x2122, 0x161,  0x203A, 0x153,  0x9D,   0x17E,  0x178};
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
  if ((num >= 0x1 && num <= 0x8) || num == 0xB || (num >= 0xE && num <= 0x1F) || (num >= 0x7F && num <= 0x9F) ||
      (num >= 0xFDD0 && num <= 0xFDEF))
    return true;
  return (num & 0xFFFE) == 0xFFFE && num <= 0x10FFFF;
}

bool is_ascii_digit(char32_t c) { return c >= '0' && c <= '9'; }
bool is_ascii_hex(char32_t c) { return is_ascii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_ascii_alnum(char32_t c) { return is_ascii_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

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
      if (c == U'\t' || c == U'\n' || c == U'\f' || c == U' ' || c == U'<' || c == U'&' || c == U'#' || c == U';')
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
    const bool drop = c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || (c >= 0x206A && c <= 0x206F) ||
                      c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
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

}  // namespace

U32 clean_text(const U32& text) {
  U32 t = ftfy_fix_text(text);
  t = html_unescape(html_unescape(t));
  t = py_strip(t);
  return lower(whitespace_clean(t));
}

}  // namespace ovseg::models::detail
