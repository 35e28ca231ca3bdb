// `ovseg tokenize TEXT...`: CLIP BPE ids, for parity checks with other
// implementations.
#include <iostream>
#include <stdexcept>
#include <string>

#include "commands.hpp"
#include "ovseg/models/clip_tokenizer.hpp"
#include "ovseg/models/model_zoo.hpp"

namespace ovseg::cli {

namespace {

int run_tokenize(const ParsedArgs& args) {
  if (args.has("--truncate") && !args.has("--context"))
    throw std::invalid_argument("tokenize: --truncate applies to --context rows; add --context 77");
  models::ClipTokenizer tok(models::resolve_bpe_vocab(args.get("--bpe-vocab")));
  for (const auto& text : args.positionals) {
    std::vector<int64_t> ids;
    if (args.has("--context")) {
      // Like clip.tokenize: a text over the context length is an error
      // naming it, unless --truncate (clip.tokenize(truncate=True)).
      try {
        ids = tok.tokenize_ids({text}, parse_count("tokenize", "--context", args.get("--context")),
                               args.has("--truncate"))
                  .front();
      } catch (const std::length_error& e) {
        throw std::length_error(std::string("tokenize: ") + e.what() +
                                "; add --truncate to keep the first tokens as clip.tokenize(truncate=True)");
      }
    } else {
      ids = tok.encode(text);
    }
    for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
    std::cout << "\n";
  }
  return 0;
}

}  // namespace

Command tokenize_command() {
  CommandSpec spec;
  spec.name = "tokenize";
  spec.summary = "print CLIP BPE token ids of each TEXT (one line each)";
  spec.usage = "TEXT... [--context 77 [--truncate]] [--bpe-vocab FILE]";
  spec.min_positionals = 1;
  spec.max_positionals = 1000;
  spec.options = {{"--context", "N",
                   "emit clip.tokenize() rows: SOT + ids + EOT, zero-padded to N; a longer TEXT is an error", false},
                  {"--truncate", "",
                   "with --context: keep the first N tokens, the last set to EOT, as "
                   "clip.tokenize(truncate=True)",
                   false},
                  {"--bpe-vocab", "FILE", "bpe_simple_vocab_16e6.txt.gz (default: $OVSEG_CLIP_BPE, model cache)",
                   false}};
  return {spec, run_tokenize};
}

}  // namespace ovseg::cli
