// The one header a plugin author includes.
#pragma once
#include "ovseg/sdk/plugin.hpp"
#include "ovseg/sdk/stage.hpp"
#include "ovseg/sdk/diagnostics.hpp"
#include "ovseg/sdk/npy.hpp"
#include "ovseg/sdk/class_names.hpp"
#include "ovseg/sdk/runtime.hpp"
#include "ovseg/sdk/synonyms.hpp"
