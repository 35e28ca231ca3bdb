// Non-template parts of <ovseg/sdk/model_handle.hpp>.
#include "ovseg/sdk/model_handle.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <stdexcept>

namespace ovseg {

std::string readable_type_name(const std::type_info& type) {
  int status = 0;
  char* demangled = abi::__cxa_demangle(type.name(), nullptr, nullptr, &status);
  std::string out = (status == 0 && demangled) ? demangled : type.name();
  std::free(demangled);
  return out;
}

void ModelHandle::throw_wrong_type(const std::string& where, const std::type_info& expected) const {
  throw std::invalid_argument(where + ": expected a model of type " + readable_type_name(expected) + ", got " +
                              (ptr_ ? readable_type_name(*type_) : std::string("an empty model handle")));
}

}  // namespace ovseg
