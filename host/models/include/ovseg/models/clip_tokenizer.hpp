// CLIP's byte-level BPE tokenizer, matching openai/CLIP clip/simple_tokenizer.py
// and clip.tokenize() id for id.
//
// Pipeline (as in the reference):
//   text -> ftfy.fix_text (the subset documented below) -> html.unescape twice
//        -> strip -> collapse \s+ to one space, strip -> str.lower()
//        -> split with CLIP's pattern
//           <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
//           (IGNORECASE)
//        -> each piece: UTF-8 bytes -> bytes_to_unicode chars -> BPE merges by rank
//        -> vocabulary ids
//
// ftfy.fix_text (ftfy 6.3 defaults) is reproduced exactly except for mojibake
// repair: fix_encoding and its sub-steps (restore_byte_a0,
// replace_lossy_sequences, decode_inconsistent_utf8, re-decoding through
// latin-1/windows-125x/macroman/cp437) are not implemented. They only change
// text that already looks like mis-decoded UTF-8 ("cafÃ©", "â€™"), which does
// not occur in prompts and class names; on such text the ids can differ from
// the reference. Implemented, in ftfy's order, per line (and per 10^6
// characters) and repeated to a fixed point as ftfy does: unescape_html
// ("auto": off for the rest of the text once a line contains '<'; HTML5 names
// ending in ';', ftfy's all-caps variants such as &EACUTE;, numeric references
// decoded through their ';'), fix_c1_controls (as Windows-1252),
// fix_latin_ligatures, fix_character_width, uncurl_quotes, fix_line_breaks,
// remove_terminal_escapes, remove_control_chars, NFC. html.unescape is
// Python's algorithm with the complete HTML5 named-reference table (legacy
// names without ';', longest-prefix matching, numeric edge cases). Unicode data
// (categories, NFC/NFKC, lower-casing with final sigma, upper-casing for the
// all-caps entities) comes from ICU; the regex module's IGNORECASE quirks
// ('s matches 'ſ; U+0345 matches no class) are reproduced.
//
// Input is UTF-8; invalid byte sequences are read as U+FFFD (per maximal
// subpart, like Python's bytes.decode('utf-8', 'replace')).
//
// Thread safety: all const members may be called concurrently.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ovseg::models {

class ClipTokenizer {
 public:
  // Reads the merges from bpe_simple_vocab_16e6.txt.gz (gzip or plain text).
  // Throws std::runtime_error naming the file when it cannot be read or is
  // too short.
  explicit ClipTokenizer(const std::string& bpe_vocab_path);
  ~ClipTokenizer();
  ClipTokenizer(ClipTokenizer&&) noexcept;
  ClipTokenizer& operator=(ClipTokenizer&&) noexcept;
  ClipTokenizer(const ClipTokenizer&) = delete;
  ClipTokenizer& operator=(const ClipTokenizer&) = delete;

  // BPE ids of the text, without start/end tokens (SimpleTokenizer.encode).
  std::vector<int64_t> encode(const std::string& utf8_text) const;

  // SimpleTokenizer.decode: each word ends with a space ("a photo " ...);
  // invalid UTF-8 in the byte stream becomes U+FFFD. Throws std::out_of_range
  // for an id outside the vocabulary.
  std::string decode(const std::vector<int64_t>& ids) const;

  // SOT + ids + EOT, padded with 0 to context_length, as clip.tokenize().
  // A longer sequence is an error by default, as in clip.tokenize(): it
  // throws std::length_error naming the text and its token count. With
  // truncate=true it keeps its first context_length tokens and sets the last
  // to EOT (clip.tokenize(truncate=True)). Callers that read prompts from a
  // file or node add where the text came from (plugins/clip/clip_text.cpp).
  std::vector<std::vector<int64_t>> tokenize_ids(const std::vector<std::string>& texts, int64_t context_length = 77,
                                                 bool truncate = false) const;

  // Same as tokenize_ids, as an int64 tensor of shape (N, context_length).
  at::Tensor tokenize(const std::vector<std::string>& texts, int64_t context_length = 77, bool truncate = false) const;

  // Text cleaning alone (fix_text subset, html.unescape x2, whitespace
  // collapse, lower-case), as UTF-8: what the splitter sees.
  std::string clean(const std::string& utf8_text) const;

  int64_t sot_token() const;   // 49406 for the published vocabulary
  int64_t eot_token() const;   // 49407
  int64_t vocab_size() const;  // 49408

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ovseg::models
