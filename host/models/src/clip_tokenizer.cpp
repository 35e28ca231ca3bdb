// CLIP BPE tokenizer; see clip_tokenizer.hpp for the behaviour and the
// subset of ftfy that is reproduced. The text cleaning that runs before the
// split and BPE lives in clip_text_clean.cpp.
#include "ovseg/models/clip_tokenizer.hpp"

#include "clip_text_clean.hpp"

#include <ATen/ATen.h>
#include <unicode/uchar.h>
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

using detail::clean_text;
using detail::py_isspace;
using detail::regex_isspace;
using detail::U32;
using detail::utf8_decode;
using detail::utf8_encode;

constexpr int kNumMerges = 49152 - 256 - 2;  // lines 1..kNumMerges of the file

// ------------------------------------------------------ character classes ----

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
    case U_OTHER_LETTER: return CharClass::kLetter;
    case U_DECIMAL_DIGIT_NUMBER:
    case U_LETTER_NUMBER:
    case U_OTHER_NUMBER: return CharClass::kNumber;
    default: break;
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

// CLIP's re.findall over the cleaned text; returns [begin, end) pieces.
std::vector<std::pair<std::size_t, std::size_t>> split_pieces(const U32& t) {
  static constexpr std::string_view kLiterals[] = {
      "<|startoftext|>", "<|endoftext|>", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
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
  if (f == nullptr) throw std::runtime_error("ClipTokenizer: cannot open BPE vocabulary '" + path + "'");
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

// The text as an error message shows it: whole up to 200 bytes, else its
// first 200 bytes (cut at a character boundary) and "...".
std::string shown_text(const std::string& text) {
  constexpr std::size_t kMax = 200;
  if (text.size() <= kMax) return text;
  std::size_t cut = kMax;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return text.substr(0, cut) + "...";
}

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

}  // namespace

// ------------------------------------------------------------------ Impl ----

struct ClipTokenizer::Impl {
  std::array<char32_t, 256> byte_encoder{};
  std::unordered_map<char32_t, unsigned char> byte_decoder;
  std::array<int32_t, 256> byte_id{};                               // id of the byte's character
  std::array<int32_t, 256> byte_end_id{};                           // id of the byte's character + "</w>"
  std::vector<std::string> id_bytes;                                // decoded bytes of each vocabulary entry
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
                             std::to_string(kNumMerges + 1) + " (is it bpe_simple_vocab_16e6.txt.gz, and complete?)");

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
    m.ranks.insert_or_assign(pair_key(a->second, b->second), std::make_pair(static_cast<int32_t>(r), ab->second));
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
                                                              int64_t context_length, bool truncate) const {
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
      if (!truncate)
        throw std::length_error("input \"" + shown_text(text) + "\" is too long for context length " +
                                std::to_string(context_length) + " (" + std::to_string(tokens.size()) +
                                " tokens with start and end)");
      tokens.resize(ctx);
      tokens.back() = impl_->eot;
    }
    tokens.resize(ctx, 0);
    rows.push_back(std::move(tokens));
  }
  return rows;
}

at::Tensor ClipTokenizer::tokenize(const std::vector<std::string>& texts, int64_t context_length, bool truncate) const {
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
