# Foundation suite: SDK, plugin loading, TOML graphs and validation,
# overrides, executor, image/npy I/O and the `ovseg` CLI.
#
# The suite builds its own test plugins into ${CMAKE_BINARY_DIR}/test_plugins,
# a folder apart from the real plugin directory, so `ovseg plugins` never sees
# them:
#   libovseg_plugin_abi_mismatch.so  exports ovseg_sdk_abi_version() == 999
#   libovseg_plugin_fingerprint_mismatch.so  this ABI, another LibTorch/compiler
#   libovseg_plugin_not_a_plugin.so  a shared library without entry points
#   libovseg_plugin_test_stages.so   valid plugins (record_order, misbehave)
#   libovseg_plugin_test_stages_dup.so  the same plugin names again
set(OVSEG_TEST_PLUGINS_OUT ${CMAKE_BINARY_DIR}/test_plugins)
set(OVSEG_FOUNDATION_DIR ${CMAKE_CURRENT_SOURCE_DIR}/foundation)

# Target foundation_<name> -> test_plugins/libovseg_plugin_<name>.so
function(ovseg_foundation_test_library name type)
  add_library(foundation_${name} ${type} ${ARGN})
  set_target_properties(foundation_${name} PROPERTIES
    OUTPUT_NAME ${name}
    PREFIX "libovseg_plugin_"
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LIBRARY_OUTPUT_DIRECTORY ${OVSEG_TEST_PLUGINS_OUT}
    BUILD_RPATH "$ORIGIN/../lib")
  target_include_directories(foundation_${name} PRIVATE ${Boost_INCLUDE_DIRS})
endfunction()

# (a) ABI mismatch: only the version entry point, returning 999.
ovseg_foundation_test_library(abi_mismatch MODULE ${OVSEG_FOUNDATION_DIR}/plugins/abi_mismatch.cpp)
# (a') This ABI version, another build fingerprint (LibTorch, compiler).
ovseg_foundation_test_library(fingerprint_mismatch MODULE ${OVSEG_FOUNDATION_DIR}/plugins/fingerprint_mismatch.cpp)
target_link_libraries(foundation_fingerprint_mismatch PRIVATE ovseg_sdk)
# (b) A shared library that is not a plugin.
ovseg_foundation_test_library(not_a_plugin SHARED ${OVSEG_FOUNDATION_DIR}/plugins/not_a_plugin.cpp)
# (c) Valid test plugins, built the way ovseg_add_plugin() builds plugins;
# (d) the same stages in a second library: every name is a duplicate.
add_library(ovseg_foundation_test_stages_obj OBJECT ${OVSEG_FOUNDATION_DIR}/plugins/test_stages.cpp)
target_link_libraries(ovseg_foundation_test_stages_obj PRIVATE ovseg_sdk)
set_target_properties(ovseg_foundation_test_stages_obj PROPERTIES
  CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
foreach(lib test_stages test_stages_dup)
  ovseg_foundation_test_library(${lib} MODULE
    $<TARGET_OBJECTS:ovseg_foundation_test_stages_obj> ${OVSEG_PLUGIN_ENTRY_SOURCE})
  target_link_libraries(foundation_${lib} PRIVATE ovseg_sdk)
endforeach()

ovseg_add_doctest(test_foundation USES_CLI
  SOURCES
    ${OVSEG_FOUNDATION_DIR}/test_pipeline_spec.cpp
    ${OVSEG_FOUNDATION_DIR}/test_graph_validation.cpp
    ${OVSEG_FOUNDATION_DIR}/test_overrides.cpp
    ${OVSEG_FOUNDATION_DIR}/test_plugin_loading.cpp
    ${OVSEG_FOUNDATION_DIR}/test_executor.cpp
    ${OVSEG_FOUNDATION_DIR}/test_npy_image_io.cpp
    ${OVSEG_FOUNDATION_DIR}/test_cli.cpp
    ${OVSEG_FOUNDATION_DIR}/test_runtime.cpp
    ${OVSEG_FOUNDATION_DIR}/test_run_protocol.cpp
    ${OVSEG_FOUNDATION_DIR}/test_health.cpp
  LIBS ovseg_host ${OpenCV_LIBS})
target_include_directories(test_foundation PRIVATE ${OVSEG_FOUNDATION_DIR} ${OpenCV_INCLUDE_DIRS})
target_compile_definitions(test_foundation PRIVATE
  OVSEG_TEST_EXTRA_PLUGIN_DIR="${OVSEG_TEST_PLUGINS_OUT}"
  CMAKE_COMMAND="${CMAKE_COMMAND}")
add_dependencies(test_foundation
  foundation_abi_mismatch foundation_fingerprint_mismatch foundation_not_a_plugin foundation_test_stages foundation_test_stages_dup)
set_tests_properties(test_foundation PROPERTIES
  LABELS foundation TIMEOUT 300
  ENVIRONMENT "OVSEG_PLUGIN_PATH=")

# A program that links libovseg_sdk but never calls ovseg::init_process():
# test_runtime.cpp checks that loading the SDK changes nothing.
add_executable(sdk_load_probe ${OVSEG_FOUNDATION_DIR}/plugins/sdk_load_probe.cpp)
target_link_libraries(sdk_load_probe PRIVATE ovseg_sdk)
set_target_properties(sdk_load_probe PROPERTIES
  RUNTIME_OUTPUT_DIRECTORY ${OVSEG_TEST_PLUGINS_OUT} BUILD_RPATH "$ORIGIN/../lib")
add_dependencies(test_foundation sdk_load_probe)
target_compile_definitions(test_foundation PRIVATE OVSEG_SDK_LOAD_PROBE="$<TARGET_FILE:sdk_load_probe>")
