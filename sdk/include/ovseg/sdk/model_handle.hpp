// The payload of a Model port: one model object shared between stages (e.g.
// clip_image hands its ovseg::models::ClipModel to a refinement stage that
// re-runs the last block with the same weights).
//
// Typed: the handle remembers the C++ type it was made from, so a reader asks
// for the type it needs and gets either that object or a one-line error naming
// the node, the port, the type expected and the type held. No type-name
// strings to keep in sync, no unchecked casts. No LibTorch here: the header is
// included by everything that includes <ovseg/sdk/stage.hpp>.
//
//   producer:  ctx.set_output("model", ModelHandle::of(clip_model));
//   consumer:  std::shared_ptr<models::ClipModel> m = ctx.model<models::ClipModel>("model");
#pragma once

#include <memory>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>

namespace ovseg {

// "ovseg::models::ClipModel" for typeid(ovseg::models::ClipModel).
std::string readable_type_name(const std::type_info& type);

class ModelHandle {
 public:
  ModelHandle() = default;

  // A handle to `model`, typed as T (the static type given here: hand out
  // the concrete class a consumer will ask for).
  template <class T>
  static ModelHandle of(std::shared_ptr<T> model) {
    static_assert(!std::is_const<T>::value, "ModelHandle::of: pass a shared_ptr to a non-const model");
    ModelHandle h;
    h.type_ = &typeid(T);
    h.ptr_ = std::move(model);
    return h;
  }

  bool empty() const { return ptr_ == nullptr; }
  // Whether the handle holds a T. type_info equality compares the mangled
  // names, so it holds across shared libraries (host, models, plugins).
  template <class T>
  bool holds() const {
    return ptr_ != nullptr && *type_ == typeid(T);
  }
  // The held type, readable ("ovseg::models::ClipModel"); "nothing" if empty.
  std::string type_name() const { return ptr_ ? readable_type_name(*type_) : std::string("nothing"); }

  // The model as a T. `where` names the reader for the error, e.g.
  // "node 'refine' input 'model'"; the error reads
  //   node 'refine' input 'model': expected a model of type
  //   ovseg::models::ClipModel, got ovseg::models::SamModel
  template <class T>
  std::shared_ptr<T> get(const std::string& where) const {
    if (!holds<T>()) throw_wrong_type(where, typeid(T));
    return std::static_pointer_cast<T>(ptr_);
  }

 private:
  [[noreturn]] void throw_wrong_type(const std::string& where, const std::type_info& expected) const;
  std::shared_ptr<void> ptr_;
  const std::type_info* type_ = nullptr;
};

}  // namespace ovseg
