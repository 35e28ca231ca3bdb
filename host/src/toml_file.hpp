// Internal: what the host's own TOML files (sweep files, the demo file) share
// when read: opening with file:line:column errors, locations of nodes, paths
// relative to the file, and `set = ["path=value", ...]` override lists.
#pragma once

#include <string>
#include <vector>

#include <toml++/toml.h>

#include "ovseg/host/pipeline_spec.hpp"
#include "ovseg/sdk/diagnostics.hpp"

namespace ovseg::detail {

// `what` names the kind of file in errors ("sweep", "demo").
toml::table parse_toml_file(const std::string& path, const std::string& what);
SourceLocation where(const std::string& file, const toml::node& n);
// `path` as written in `file`: absolute paths stay, others are relative to
// the file's folder.
std::string relative_to(const std::string& file, const std::string& path);
// Throws naming the first key of `t` not in `allowed` ("unknown key 'k' in
// TABLE_NAME (did you mean ...)", fix "TABLE_NAME accepts a, b").
void check_keys(const std::string& file, const toml::table& t, const std::string& table_name,
                const std::vector<std::string>& allowed);
// The overrides under `table`'s "set" key (none when absent); every entry is
// checked, and an error names its line.
std::vector<Override> read_set_overrides(const std::string& file, const toml::table& table);

}  // namespace ovseg::detail
