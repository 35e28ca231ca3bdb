// One validation path for a node's parameters (build_graph and
// create_stage both call it, so code and TOML get the same checks).
#pragma once

#include <map>
#include <string>

#include "ovseg/host/pipeline_spec.hpp"
#include "ovseg/sdk/plugin.hpp"

namespace ovseg {

// Every declared parameter of `d`, defaults filled in, with `given` checked
// and coerced: an unknown name (nearest suggested; an input port's name says
// to wire it), a wrong type (int -> float and int list -> float list are
// the only conversions; `[]` fits any list), a value outside .range() or not
// in .choices() throws ovseg::Error at the value's location for node
// `node_id`.
Params validate_params(const PluginDescriptor& d, const std::map<std::string, SpecValue>& given,
                       const std::string& node_id);

}  // namespace ovseg
