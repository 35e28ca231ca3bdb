#include "caption_v2.hpp"

#include <map>
#include <tuple>

#include "../common/rng.hpp"
#include "../common/words.hpp"

namespace ovseg::world::v2 {

namespace {

template <class T>
const T& one_of(const std::vector<T>& v, Rng& pick) {
  return v[static_cast<size_t>(pick.below(static_cast<int>(v.size())))];
}

std::string noun(int cls, int count, Rng& pick) {
  const Noun& n = one_of(catalog()[static_cast<size_t>(cls)].nouns, pick);
  return count == 1 ? n.singular : n.plural;
}

// "with a maroon roof and a teal door", "with two black wheels".
std::string parts_phrase(const std::vector<CaptionPart>& parts, Rng& pick) {
  std::vector<std::string> named;
  for (const CaptionPart& p : parts) {
    if (!pick.chance(0.7) && !(named.empty() && &p == &parts.back())) continue;
    std::string words = pick.chance(0.4) ? std::string(colour(p.colour).word) + " " : "";
    named.push_back(counted(p.count, words + noun(p.cls, p.count, pick)));
  }
  std::string s = "with ";
  for (size_t i = 0; i < named.size(); ++i) s += (i ? " and " : "") + named[i];
  return s;
}

// Attributes are named some of the time only: with a colour word in most
// captions, matching captions to images is solvable from colours alone and
// the model never has to learn the objects (world v1's lesson).
std::string thing_phrase(const CaptionThing& t, int count, Rng& pick) {
  std::string words;
  if (t.size != Size::Medium && pick.chance(0.25))
    words += one_of(t.size == Size::Small ? std::vector<std::string>{"small", "little", "tiny"}
                                          : std::vector<std::string>{"big", "large", "huge"},
                    pick) +
             " ";
  if (t.pattern != Pattern::Plain && pick.chance(0.3)) words += one_of(pattern_words(t.pattern), pick) + " ";
  if (pick.chance(0.3)) words += std::string(colour(t.colour).word) + " ";
  words += noun(t.cls, count, pick);
  std::string phrase = counted(count, words);
  if (count == 1 && !t.parts.empty() && pick.chance(0.8)) phrase += " " + parts_phrase(t.parts, pick);
  return phrase;
}

const std::vector<std::string>& on_stuff(int cls) {
  static const std::vector<std::vector<std::string>> on = {
      {"on the grass", "on a lawn", "in a meadow", "on green grass"},
      {"in the water", "on the sea", "in a lake", "on blue water"},
      {"on the sand", "on a beach", "in the desert", "on yellow sand"},
      {"in the snow", "on a snowfield", "on white snow", "among snowdrifts"},
      {"on the road", "on a street", "on the asphalt", "on a grey road"},
      {"on the dirt", "on bare soil", "in the mud", "on brown dirt"}};
  return on.at(static_cast<size_t>(cls));
}

std::string stuff_phrase(const std::vector<int>& stuff, Rng& pick) {
  if (stuff.size() == 1) return one_of(on_stuff(stuff[0]), pick);
  std::vector<std::string> names;
  for (const int s : stuff) names.push_back("the " + noun(s, 1, pick));
  if (stuff.size() == 3) return "between " + names[0] + ", " + names[1] + " and " + names[2];
  switch (pick.below(3)) {
    case 0: return "between " + names[0] + " and " + names[1];
    case 1: return one_of(on_stuff(stuff[0]), pick) + " next to " + names[1];
    default: return "where " + names[0].substr(4) + " meets " + names[1].substr(4);
  }
}

}  // namespace

std::string compose_caption(const std::vector<CaptionThing>& things, const std::vector<int>& stuff, uint64_t seed) {
  Rng pick(seed);
  // Identical objects (class, colour, pattern, size) are grouped and counted;
  // parts are named for single objects only.
  std::map<std::tuple<int, int, int, int>, std::vector<const CaptionThing*>> groups;
  std::vector<std::tuple<int, int, int, int>> order;
  for (const auto& t : things) {
    const auto key = std::make_tuple(t.cls, t.colour, static_cast<int>(t.pattern), static_cast<int>(t.size));
    auto& g = groups[key];
    if (g.empty()) order.push_back(key);
    g.push_back(&t);
  }
  std::vector<std::string> phrases;
  for (const auto& key : order) {
    const auto& g = groups[key];
    phrases.push_back(thing_phrase(*g.front(), static_cast<int>(g.size()), pick));
  }
  const std::string where = stuff_phrase(stuff, pick);
  if (phrases.empty()) {
    static const std::vector<std::string> only = {"a photo of ", "a picture of ", "an empty scene: ", ""};
    std::vector<std::string> names;
    for (const int s : stuff) names.push_back(noun(s, 1, pick));
    return one_of(only, pick) + join_list(names) + ".";
  }
  const std::string what = join_list(phrases);
  // Half the captions name only the objects: stuff is in every scene and
  // easy to see, so captions that always named it would let the model match
  // them by the background alone and never learn the objects (world v1's
  // lesson); with a third, as in world v1, the stuff of v2 was not learned.
  if (pick.chance(0.5)) {
    static const std::vector<std::string> lead = {"a photo of ", "a picture of ", "", "there is "};
    return one_of(lead, pick) + what + ".";
  }
  static const std::vector<std::string> lead = {"a photo of ", "", "there is ", "a picture of ", "a rendering of "};
  return one_of(lead, pick) + what + " " + where + ".";
}

}  // namespace ovseg::world::v2
