// CLIP BPE tokenizer: ids must equal those of openai/CLIP's simple_tokenizer.py
// (with ftfy 6.3.1) and clip.tokenize(). The expected ids below were produced
// by that reference; the vocabulary is the published bpe_simple_vocab_16e6.txt.gz
// from the shared data folder.
#include "ovseg/models/clip_tokenizer.hpp"
#include "ovseg/models/model_zoo.hpp"
#include "ovseg/sdk/npy.hpp"

#include <doctest/doctest.h>

#include <ATen/ATen.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <fstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using ovseg::models::ClipTokenizer;

std::string vocab_path() { return std::string(OVSEG_SHARED_DATA) + "/clip-tokenizer/bpe_simple_vocab_16e6.txt.gz"; }

const ClipTokenizer& tokenizer() {
  static const ClipTokenizer tok(vocab_path());
  return tok;
}

std::string ids_str(const std::vector<int64_t>& ids) {
  std::string s = "[";
  for (std::size_t i = 0; i < ids.size(); ++i) s += (i ? ", " : "") + std::to_string(ids[i]);
  return s + "]";
}

// Reference ids: produced by the reference Python tokenizer (the simple_tokenizer.py
// algorithm with ftfy 6.3.1, regex, html.unescape) for each input; inputs are UTF-8.
struct TokCase {
  const char* name;
  const char* text;
  std::vector<int64_t> ids;
};
const std::vector<TokCase> kCases = {
    {"plain", "a photo of a cat.", {320, 1125, 539, 320, 2368, 269}},
    {"plain2", "a photo of a dog", {320, 1125, 539, 320, 1929}},
    {"template", "a bad photo of a traffic light.", {320, 2103, 1125, 539, 320, 3399, 1395, 269}},
    {"punctuation",
     "Hello, world! (test) -- ok\077 ...!!! #1 @home",
     {3306, 267, 1002, 256, 263, 1628, 264, 2432, 2481, 286, 38351, 258, 272, 287, 1137}},
    {"punct_only", "\077!...,;:", {9785, 3002, 11, 26, 281}},
    {"apos_dont", "don't", {847, 713}},
    {"apos_its", "it's", {585, 568}},
    {"apos_well", "we'll", {649, 1342}},
    {"apos_im", "I'm", {328, 880}},
    {"apos_theyre", "they're", {889, 982}},
    {"apos_weve", "we've", {649, 1200}},
    {"apos_shed", "she'd", {1043, 1896}},
    {"apos_upper", "DON'T IT'S", {847, 713, 585, 568}},
    {"apos_curly", "don\342\200\231t it\342\200\231s", {847, 713, 585, 568}},
    {"apos_alone", "' 'x 'sx", {262, 262, 343, 568, 343}},
    {"quotes_curly", "\342\200\234quoted\342\200\235", {257, 27706, 257}},
    {"number_year", "2024", {273, 271, 273, 275}},
    {"number_pi", "3.14", {274, 269, 272, 275}},
    {"number_mixed", "route 66 and 7up", {5261, 277, 277, 537, 278, 705}},
    {"number_arabic_indic", "\331\243\331\244", {149, 352, 149, 353}},
    {"number_roman", "\342\205\253 \302\275 \302\262", {158, 227, 375, 33613, 41175}},
    {"accent_cafe", "caf\303\251", {15304}},
    {"accent_naive", "na\303\257ve", {1097, 35689, 563}},
    {"accent_cafe_nfd", "cafe\314\201", {15304}},
    {"accent_naive_nfd", "nai\314\210ve", {1097, 35689, 563}},
    {"accent_creme", "Cr\303\250me Br\303\273l\303\251e", {1075, 12138, 614, 711, 127, 119, 75, 13489}},
    {"accent_upper", "\303\211COLE \303\200 PARIS", {3459, 8166, 21259, 3445}},
    {"emoji_heart_pizza", "I \342\235\244\357\270\217 \360\237\215\225", {328, 1752, 23904}},
    {"emoji_skin", "\360\237\221\215\360\237\217\275", {43722}},
    {"emoji_family",
     "\360\237\221\250\342\200\215\360\237\221\251\342\200\215\360\237\221\247",
     {25023, 26304, 964, 356}},
    {"emoji_flag", "\360\237\207\253\360\237\207\267", {16223}},
    {"cjk_ja", "\347\214\253\343\201\256\345\206\231\347\234\237", {163, 234, 104, 21575, 44653, 33440, 509}},
    {"cjk_zh", "\344\270\255\346\226\207", {19759, 255, 29032, 485}},
    {"cjk_ko", "\355\225\234\352\265\255\354\226\264", {15197, 250, 31871, 255, 31625, 368}},
    {"cjk_mixed", "a photo of a \347\214\253 (neko)", {320, 1125, 539, 320, 163, 234, 360, 263, 47066, 264}},
    {"script_greek_sigma",
     "\316\243\316\237\316\246\316\237\316\243 \316\237\316\224\316\237\316\243",
     {139, 225, 138, 123, 139, 228, 138, 123, 139, 480, 138, 123, 138, 112, 138, 123, 139, 480}},
    {"script_cyrillic", "\320\232\320\276\321\210\320\272\320\260", {27152, 13506, 141, 230, 27152, 27080}},
    {"script_arabic", "\331\202\330\267\330\251", {27585, 32050, 20915}},
    {"script_hindi",
     "\340\244\254\340\244\277\340\244\262\340\245\215\340\244\262\340\245\200",
     {43599, 26721, 30881, 19389, 30881, 25751}},
    {"turkish_dotted_I", "\304\260stanbul", {328, 16384, 11231}},
    {"sharp_s", "Stra\303\237e STRASSE \341\272\236", {1894, 127, 253, 324, 1894, 8938, 127, 509}},
    {"long_s", "\305\277s \305\277\305\277", {129, 123, 338, 129, 123, 129, 379}},
    {"html_amp", "&amp;", {261}},
    {"html_tag", "&lt;b&gt;", {283, 321, 285}},
    {"html_apos", "&#39;", {262}},
    {"html_hex", "&#x27;s &#x263A;", {568, 8703}},
    {"html_double", "&amp;amp;", {261}},
    {"html_triple", "&amp;amp;amp;lt;", {283}},
    {"html_chips", "fish &amp; chips", {2759, 261, 8855}},
    {"html_named", "&eacute;t&eacute; &hellip; &rsquo; &nbsp;x", {3459, 39694, 959, 262, 343}},
    {"html_nosemi", "&notin &amp x &copy2024", {126, 361, 530, 261, 343, 5811, 273, 271, 273, 275}},
    {"html_upper", "P&EACUTE;REZ", {43167, 15192}},
    {"html_with_tag", "<b>&amp;amp;</b>", {283, 321, 29, 5, 34308, 321, 285}},
    {"html_c1", "&#150; &#128;", {1224, 6309}},
    {"html_invalid", "&#0; &#xD800; &#1114112; &#12 &bogus;", {39802, 39802, 39802, 261, 42907, 282}},
    {"whitespace", "  a   photo\011of\012\012a  cat  ", {320, 1125, 539, 320, 2368}},
    {"whitespace_unicode", "a\302\240photo\342\200\203of\343\200\200a\342\200\250cat", {320, 1125, 539, 320, 2368}},
    {"crlf", "line one\015\012line two\015three", {1148, 637, 1148, 1237, 2097}},
    {"upper", "A PHOTO OF A CAT", {320, 1125, 539, 320, 2368}},
    {"mixed_case", "iPhone McDonald's NASA", {4314, 10741, 568, 6841}},
    {"ligature", "\357\254\201sh \357\254\202ower \307\204", {2759, 4055, 67, 129, 378}},
    {"fullwidth",
     "\357\274\254\357\274\257\357\274\265\357\274\244\343\200\200\357\274\256\357\274\257\357\274\251\357\274\263\357"
     "\274\245\357\274\263",
     {7464, 31575}},
    {"halfwidth_kana", "\357\275\263\357\276\200\357\275\260\357\276\235", {3909, 99, 34941, 18584, 367}},
    {"controls", "a\007b\033[31mred\033[0m\357\273\277c\342\200\213d", {596, 1893, 322, 9844, 323}},
    {"special_tokens", "a <|endoftext|> b <|startoftext|>", {320, 49407, 321, 49406}},
    {"empty", "", {}},
    {"spaces_only", " \011\012 ", {}},
    {"long_word",
     "pneumonoultramicroscopicsilicovolcanoconiosis",
     {28714, 749, 20253, 9800, 535, 532, 1065, 901, 1556, 13697, 9916, 78, 39031, 13903}},
    {"url",
     "https://example.com/a_b\077c=d&e=f",
     {30901, 12441, 6228, 269, 2464, 270, 320, 318, 321, 286, 322, 284, 323, 261, 324, 284, 325}},
    {"long_text",
     "the quick brown fox jumps over the lazy dog the quick brown fox jumps over the lazy dog the quick brown fox "
     "jumps over the lazy dog the quick brown fox jumps over the lazy dog the quick brown fox jumps over the lazy dog "
     "the quick brown fox jumps over the lazy dog the quick brown fox jumps over the lazy dog the quick brown fox "
     "jumps over the lazy dog the quick brown fox jumps over the lazy dog the quick brown fox jumps over the lazy dog "
     "the quick brown fox jumps over the lazy dog the quick brown fox jumps over the lazy dog",
     {518, 3712, 2866, 3240, 18911, 962, 518, 10753, 1929, 518, 3712, 2866, 3240, 18911, 962, 518, 10753, 1929,
      518, 3712, 2866, 3240, 18911, 962, 518, 10753, 1929, 518, 3712, 2866, 3240, 18911, 962, 518, 10753, 1929,
      518, 3712, 2866, 3240, 18911, 962, 518, 10753, 1929, 518, 3712, 2866, 3240, 18911, 962, 518, 10753, 1929,
      518, 3712, 2866, 3240, 18911, 962, 518, 10753, 1929, 518, 3712, 2866, 3240, 18911, 962, 518, 10753, 1929,
      518, 3712, 2866, 3240, 18911, 962, 518, 10753, 1929, 518, 3712, 2866, 3240, 18911, 962, 518, 10753, 1929,
      518, 3712, 2866, 3240, 18911, 962, 518, 10753, 1929, 518, 3712, 2866, 3240, 18911, 962, 518, 10753, 1929}},
};
// decode(encode(text)) as the reference gives it.
const std::vector<std::pair<const char*, const char*>> kDecoded = {
    {"a photo of a cat.", "a photo of a cat . "},
    {"Hello, world! (test) -- ok\077 ...!!! #1 @home", "hello , world ! ( test ) -- ok \077 ...!!! # 1 @ home "},
    {"don't", "don 't "},
    {"caf\303\251", "caf\303\251 "},
    {"I \342\235\244\357\270\217 \360\237\215\225", "i \342\235\244\357\270\217 \360\237\215\225 "},
    {"\347\214\253\343\201\256\345\206\231\347\234\237", "\347\214\253\343\201\256\345\206\231\347\234\237 "},
    {"&lt;b&gt;", "< b > "},
    {"a <|endoftext|> b <|startoftext|>", "a <|endoftext|>b <|startoftext|>"},
};
// The 80 ImageNet prompt templates of the CLIP paper.
const std::vector<std::string> kTemplates = {
    "a bad photo of a {}.",
    "a photo of many {}.",
    "a sculpture of a {}.",
    "a photo of the hard to see {}.",
    "a low resolution photo of the {}.",
    "a rendering of a {}.",
    "graffiti of a {}.",
    "a bad photo of the {}.",
    "a cropped photo of the {}.",
    "a tattoo of a {}.",
    "the embroidered {}.",
    "a photo of a hard to see {}.",
    "a bright photo of a {}.",
    "a photo of a clean {}.",
    "a photo of a dirty {}.",
    "a dark photo of the {}.",
    "a drawing of a {}.",
    "a photo of my {}.",
    "the plastic {}.",
    "a photo of the cool {}.",
    "a close-up photo of a {}.",
    "a black and white photo of the {}.",
    "a painting of the {}.",
    "a painting of a {}.",
    "a pixelated photo of the {}.",
    "a sculpture of the {}.",
    "a bright photo of the {}.",
    "a cropped photo of a {}.",
    "a plastic {}.",
    "a photo of the dirty {}.",
    "a jpeg corrupted photo of a {}.",
    "a blurry photo of the {}.",
    "a photo of the {}.",
    "a good photo of the {}.",
    "a rendering of the {}.",
    "a {} in a video game.",
    "a photo of one {}.",
    "a doodle of a {}.",
    "a close-up photo of the {}.",
    "a photo of a {}.",
    "the origami {}.",
    "the {} in a video game.",
    "a sketch of a {}.",
    "a doodle of the {}.",
    "a origami {}.",
    "a low resolution photo of a {}.",
    "the toy {}.",
    "a rendition of the {}.",
    "a photo of the clean {}.",
    "a photo of a large {}.",
    "a rendition of a {}.",
    "a photo of a nice {}.",
    "a photo of a weird {}.",
    "a blurry photo of a {}.",
    "a cartoon {}.",
    "art of a {}.",
    "a sketch of the {}.",
    "a embroidered {}.",
    "a pixelated photo of a {}.",
    "itap of the {}.",
    "a jpeg corrupted photo of the {}.",
    "a good photo of a {}.",
    "a plushie {}.",
    "a photo of the nice {}.",
    "a photo of the small {}.",
    "a photo of the weird {}.",
    "the cartoon {}.",
    "art of the {}.",
    "a drawing of the {}.",
    "a photo of the large {}.",
    "a black and white photo of a {}.",
    "the plushie {}.",
    "a dark photo of a {}.",
    "itap of a {}.",
    "graffiti of the {}.",
    "a toy {}.",
    "itap of my {}.",
    "a photo of a cool {}.",
    "a photo of a small {}.",
    "a tattoo of the {}.",
};
const std::vector<std::string> kHashNames = {"cat",        "dog",       "traffic light", "potted plant", "person",
                                             "sky",        "grass",     "wine glass",    "teddy bear",   "hair drier",
                                             "tv monitor", "motorbike", "sofa",          "dining table", "sheep",
                                             "aeroplane",  "bicycle",   "bird",          "boat",         "bottle"};
// FNV-1a (64-bit, one step per id) over encode(template with name) for all pairs, templates outer.
constexpr uint64_t kTemplateHash = 10809051911724919893ULL;
constexpr std::size_t kTemplateIdCount = 10960;

const TokCase& find_case(const std::string& name) {
  for (const auto& c : kCases)
    if (name == c.name) return c;
  throw std::runtime_error("no test case " + name);
}

}  // namespace

TEST_CASE("tokenizer: vocabulary size and special tokens") {
  const ClipTokenizer& tok = tokenizer();
  CHECK(tok.vocab_size() == 49408);
  CHECK(tok.sot_token() == 49406);
  CHECK(tok.eot_token() == 49407);
}

TEST_CASE("tokenizer: encode matches the reference ids") {
  const ClipTokenizer& tok = tokenizer();
  for (const auto& c : kCases) {
    INFO("case ", c.name, ": \"", c.text, "\"");
    const std::vector<int64_t> got = tok.encode(c.text);
    INFO("got ", ids_str(got), " expected ", ids_str(c.ids));
    CHECK(got == c.ids);
  }
}

TEST_CASE("tokenizer: NFC and NFD spellings give the same ids") {
  const ClipTokenizer& tok = tokenizer();
  CHECK(tok.encode("caf\303\251") == tok.encode("cafe\314\201"));
  CHECK(tok.encode("na\303\257ve") == tok.encode("nai\314\210ve"));
  CHECK(find_case("accent_cafe").ids == find_case("accent_cafe_nfd").ids);
}

TEST_CASE("tokenizer: specific splits") {
  const ClipTokenizer& tok = tokenizer();
  // digits are split one per token
  CHECK(tok.encode("2024").size() == 4);
  CHECK(tok.encode("2024") == std::vector<int64_t>{273, 271, 273, 275});
  // case does not matter; curly apostrophes become straight ones
  CHECK(tok.encode("A PHOTO OF A CAT") == tok.encode("a photo of a cat"));
  CHECK(tok.encode("don\342\200\231t") == tok.encode("don't"));
  // entities, extra whitespace
  CHECK(tok.encode("fish &amp; chips") == tok.encode("fish & chips"));
  CHECK(tok.encode("  a \t photo\n\nof ") == tok.encode("a photo of"));
  CHECK(tok.encode("").empty());
  CHECK(tok.encode(" \t\n").empty());
  // special token text maps to the special ids
  CHECK(tok.encode("<|endoftext|>") == std::vector<int64_t>{49407});
}

TEST_CASE("tokenizer: tokenize pads, adds start/end and truncates") {
  const ClipTokenizer& tok = tokenizer();
  const auto& plain = find_case("plain");
  const auto& empty = find_case("empty");
  const auto& long_text = find_case("long_text");
  REQUIRE(long_text.ids.size() > 75);

  const at::Tensor t = tok.tokenize({plain.text, empty.text, long_text.text}, 77, /*truncate=*/true);
  REQUIRE(t.dim() == 2);
  CHECK(t.size(0) == 3);
  CHECK(t.size(1) == 77);
  const bool is_int64 = t.scalar_type() == at::kLong;
  CHECK(is_int64);
  const auto rows = tok.tokenize_ids({plain.text, empty.text, long_text.text}, 77, /*truncate=*/true);
  for (std::size_t r = 0; r < rows.size(); ++r)
    for (std::size_t i = 0; i < 77; ++i)
      CHECK(t[static_cast<int64_t>(r)][static_cast<int64_t>(i)].item<int64_t>() == rows[r][i]);

  // "a photo of a cat." -> SOT ids EOT 0...
  std::vector<int64_t> expect{49406};
  expect.insert(expect.end(), plain.ids.begin(), plain.ids.end());
  expect.push_back(49407);
  expect.resize(77, 0);
  CHECK(rows[0] == expect);
  // "" -> SOT EOT 0...
  std::vector<int64_t> expect_empty{49406, 49407};
  expect_empty.resize(77, 0);
  CHECK(rows[1] == expect_empty);
  // long text: the first 76 tokens (SOT + 75 ids) and EOT last, no padding
  std::vector<int64_t> expect_long{49406};
  expect_long.insert(expect_long.end(), long_text.ids.begin(), long_text.ids.begin() + 75);
  expect_long.push_back(49407);
  CHECK(rows[2] == expect_long);

  // other context lengths
  const auto short_rows = tok.tokenize_ids({plain.text}, 4, /*truncate=*/true);
  CHECK(short_rows[0] == std::vector<int64_t>{49406, plain.ids[0], plain.ids[1], 49407});
  CHECK(tok.tokenize({"a"}, 1, /*truncate=*/true).size(1) == 1);

  // truncate=false (the default, as in clip.tokenize): a clear error naming the length
  CHECK_THROWS_AS(tok.tokenize({long_text.text}), std::length_error);
  CHECK_THROWS_AS(tok.tokenize({long_text.text}, 77, false), std::length_error);
  try {
    tok.tokenize_ids({long_text.text}, 77, false);
    FAIL("expected an exception");
  } catch (const std::length_error& e) {
    const std::string msg = e.what();
    CHECK(msg.find("too long for context length 77") != std::string::npos);
    CHECK(msg.find(std::to_string(long_text.ids.size() + 2) + " tokens") != std::string::npos);
  }
  CHECK_NOTHROW(tok.tokenize({plain.text}, 77, false));
  CHECK_THROWS_AS(tok.tokenize({plain.text}, 0), std::invalid_argument);
}

// Fixture: openai/CLIP's clip.tokenize (clip/clip.py at the commit fetched
// from github:openai/CLIP, simple_tokenizer.py with ftfy 6.3.1, regex, torch
// 1.13) on each line of data/clip_tokenize_77_prompts.txt, context length 77.
// Each row: [1 if clip.tokenize(text) raised "Input ... is too long for
// context length 77" else 0, token count with SOT/EOT, the 77 ids of
// clip.tokenize(text, truncate=True)]. Produced by a script outside the
// repository that imports the reference; only its numbers are committed.
TEST_CASE("tokenizer: over 77 tokens raises, and truncate=true equals clip.tokenize(truncate=True)") {
  const ClipTokenizer& tok = tokenizer();
  const std::string dir = std::string(OVSEG_SOURCE_DIR) + "/tests/models/data/";
  const at::Tensor expect = ovseg::read_npy(dir + "clip_tokenize_77.npy");
  std::ifstream in(dir + "clip_tokenize_77_prompts.txt");
  std::vector<std::string> prompts;
  for (std::string line; std::getline(in, line);) prompts.push_back(line);
  REQUIRE(expect.dim() == 2);
  REQUIRE(expect.size(0) == static_cast<int64_t>(prompts.size()));
  REQUIRE(expect.size(1) == 79);
  int raised_cases = 0;
  for (std::size_t r = 0; r < prompts.size(); ++r) {
    const at::Tensor row = expect[static_cast<int64_t>(r)];
    INFO("prompt ", r, ": ", prompts[r]);
    const bool raised = row[0].item<int64_t>() == 1;
    raised_cases += raised;
    CHECK(static_cast<int64_t>(tok.encode(prompts[r]).size()) + 2 == row[1].item<int64_t>());
    if (raised) {
      try {
        tok.tokenize_ids({prompts[r]});
        FAIL("clip.tokenize raised here, ClipTokenizer did not");
      } catch (const std::length_error& e) {
        const std::string msg = e.what();
        CHECK(msg.find("is too long for context length 77") != std::string::npos);
        CHECK(msg.find(prompts[r].substr(0, 40)) != std::string::npos);  // names the prompt
      }
    } else {
      CHECK_NOTHROW(tok.tokenize_ids({prompts[r]}));
    }
    const std::vector<int64_t> got = tok.tokenize_ids({prompts[r]}, 77, /*truncate=*/true).front();
    const std::vector<int64_t> want(row.data_ptr<int64_t>() + 2, row.data_ptr<int64_t>() + 79);
    CHECK(got == want);
  }
  CHECK(raised_cases >= 4);  // the fixture exercises the error, not only short prompts
}

TEST_CASE("tokenizer: decode matches the reference and round-trips") {
  const ClipTokenizer& tok = tokenizer();
  for (const auto& [text, decoded] : kDecoded) {
    INFO("text: \"", text, "\"");
    CHECK(tok.decode(tok.encode(text)) == decoded);
  }
  // decoding then encoding again gives the same ids for clean text
  for (const char* name : {"plain", "apos_dont", "accent_cafe", "cjk_ja", "emoji_skin", "long_word"}) {
    const auto& c = find_case(name);
    INFO("case ", name);
    CHECK(tok.encode(tok.decode(c.ids)) == c.ids);
  }
  CHECK(tok.decode({49406, 320, 1125, 49407}) == "<|startoftext|>a photo <|endoftext|>");
  CHECK_THROWS_AS(tok.decode({49408}), std::out_of_range);
  CHECK_THROWS_AS(tok.decode({-1}), std::out_of_range);
  // a token holding only the lead byte of "\303\251" decodes to U+FFFD, as
  // bytes.decode("utf-8", errors="replace") does
  CHECK(tok.decode({127}) == "\357\277\275");
  CHECK(tok.decode({383}) == "\357\277\275 ");
}

TEST_CASE("tokenizer: invalid UTF-8 input is read as U+FFFD") {
  const ClipTokenizer& tok = tokenizer();
  CHECK(tok.encode("a\377b") == tok.encode("a\357\277\275b"));
}

TEST_CASE("tokenizer: the 80 ImageNet templates") {
  const ClipTokenizer& tok = tokenizer();
  uint64_t h = 1469598103934665603ULL;
  std::size_t count = 0;
  for (const std::string& t : kTemplates) {
    for (const std::string& name : kHashNames) {
      std::string prompt = t;
      prompt.replace(prompt.find("{}"), 2, name);
      for (int64_t id : tok.encode(prompt)) {
        h ^= static_cast<uint64_t>(id);
        h *= 1099511628211ULL;
        ++count;
      }
    }
  }
  CHECK(count == kTemplateIdCount);
  CHECK(h == kTemplateHash);
}

TEST_CASE("tokenizer: concurrent encode gives the same ids") {
  const ClipTokenizer tok(vocab_path());
  std::vector<std::vector<int64_t>> expected;
  for (const auto& c : kCases) expected.push_back(tokenizer().encode(c.text));
  std::vector<int> ok(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      int good = 1;
      for (int rep = 0; rep < 3; ++rep)
        for (std::size_t i = 0; i < kCases.size(); ++i)
          if (tok.encode(kCases[(i + static_cast<std::size_t>(t) * 7) % kCases.size()].text) !=
              expected[(i + static_cast<std::size_t>(t) * 7) % kCases.size()])
            good = 0;
      ok[static_cast<std::size_t>(t)] = good;
    });
  for (auto& th : threads) th.join();
  CHECK(ok == std::vector<int>(4, 1));
}

TEST_CASE("tokenizer: a missing or truncated vocabulary file is a clear error") {
  CHECK_THROWS_WITH_AS(ClipTokenizer("/nonexistent/bpe.txt.gz"), doctest::Contains("/nonexistent/bpe.txt.gz"),
                       std::runtime_error);
  const std::string path = std::string(OVSEG_BINARY_DIR) + "/test_tokenizer_short_vocab.txt";
  {
    std::ofstream f(path);
    f << "#version: 0.2\ni n\nt h\n";
  }
  CHECK_THROWS_WITH_AS(ClipTokenizer{path}, doctest::Contains("expected at least"), std::runtime_error);
  std::remove(path.c_str());
}

TEST_CASE("tokenizer: speed of 80 templates x 150 class names") {
  // A fresh tokenizer (empty BPE cache), as a prompt-embedding run would see.
  const ClipTokenizer tok(vocab_path());
  std::vector<std::string> names;
  {
    std::ifstream f(std::string(OVSEG_SOURCE_DIR) + "/host/harness/class_names/cls_ade20k.txt");
    for (std::string line; std::getline(f, line) && names.size() < 150;)
      if (!line.empty()) names.push_back(line);
  }
  for (int i = 0; names.size() < 150; ++i) names.push_back("class number " + std::to_string(i));
  std::vector<std::string> prompts;
  for (const std::string& t : kTemplates)
    for (const std::string& name : names) {
      std::string p = t;
      p.replace(p.find("{}"), 2, name);
      prompts.push_back(std::move(p));
    }
  const auto t0 = std::chrono::steady_clock::now();
  const at::Tensor ids = tok.tokenize(prompts);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("tokenized ", prompts.size(), " prompts in ", s, " s");
  CHECK(ids.size(0) == 12000);
  CHECK(s < 2.0);  // about 0.05 s on a 2-core machine; generous for loaded CI
}

TEST_CASE("OVSEG_CLIP_BPE naming a missing file is an error, not a silent fallback") {
  const char* old = std::getenv("OVSEG_CLIP_BPE");
  const std::string saved = old ? old : "";
  ::setenv("OVSEG_CLIP_BPE", "/nonexistent/bpe_simple_vocab_16e6.txt.gz", 1);
  std::string message = "no error";
  try {
    ovseg::models::resolve_bpe_vocab();
  } catch (const std::exception& e) {
    message = e.what();
  }
  old ? ::setenv("OVSEG_CLIP_BPE", saved.c_str(), 1) : ::unsetenv("OVSEG_CLIP_BPE");
  CHECK(message.find("OVSEG_CLIP_BPE names /nonexistent/bpe_simple_vocab_16e6.txt.gz, which is not a file") !=
        std::string::npos);
}

TEST_CASE("an unwritable cache folder is warned about once; the caller goes on uncached") {
  const char* old = std::getenv("OVSEG_CACHE_DIR");
  const std::string saved = old ? old : "";
  ::setenv("OVSEG_CACHE_DIR", "/proc/ovseg-cache", 1);  // not creatable, even as root
  std::ostringstream err;
  std::streambuf* previous = std::cerr.rdbuf(err.rdbuf());
  const auto write = [] {
    std::filesystem::create_directories(std::filesystem::path(ovseg::models::cache_root()) / "text-embeddings");
  };
  const bool first = ovseg::models::try_cache_write(write), second = ovseg::models::try_cache_write(write);
  std::cerr.rdbuf(previous);
  old ? ::setenv("OVSEG_CACHE_DIR", saved.c_str(), 1) : ::unsetenv("OVSEG_CACHE_DIR");
  CHECK_FALSE(first);
  CHECK_FALSE(second);
  const std::string text = err.str();
  CHECK(text.rfind("warning: cannot write the cache under /proc/ovseg-cache: ", 0) == 0);
  CHECK(text.find("running uncached") != std::string::npos);
  CHECK(text.find("filesystem error") == std::string::npos);
  CHECK(text.find("warning:", 1) == std::string::npos);  // once
  CHECK(ovseg::models::try_cache_write([] {}));
}
