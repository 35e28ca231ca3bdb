// Runs one stage outside a graph: its inputs and outputs live in maps. For
// tests, benchmarks and tools that drive a plugin's Stage directly.
#pragma once

#include <map>
#include <string>

#include "ovseg/sdk/stage.hpp"

namespace ovseg {

class MapStageContext : public StageContext {
 public:
  explicit MapStageContext(std::string node_id = "under_test", at::Device device = at::kCPU)
      : node_id_(std::move(node_id)), device_(device) {}

  std::map<std::string, PortValue> inputs, outputs;

  const std::string& node_id() const override { return node_id_; }
  at::Device device() const override { return device_; }
  bool has_input(const std::string& port) const override { return inputs.count(port) != 0; }
  const PortValue& input_value(const std::string& port) const override { return inputs.at(port); }
  void set_output(const std::string& port, PortValue value) override {
    outputs.insert_or_assign(port, std::move(value));
  }
  bool wants_output(const std::string&) const override { return true; }  // every output is read

 private:
  std::string node_id_;
  at::Device device_;
};

}  // namespace ovseg
