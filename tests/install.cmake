# The installed package: `cmake --install` to a temporary prefix, a plugin
# scaffolded by `ovseg new-plugin`, built outside the tree against it with
# find_package(ovseg), loaded and run (tests/install/out_of_tree_plugin.sh;
# about a minute, most of it compiling the plugin and its test).
add_test(NAME install_out_of_tree_plugin
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/install/out_of_tree_plugin.sh ${CMAKE_BINARY_DIR})
set_tests_properties(install_out_of_tree_plugin PROPERTIES
  LABELS install TIMEOUT 600
  ENVIRONMENT "OVSEG_PLUGIN_PATH=;OVSEG_CACHE_DIR=${OVSEG_TEST_CACHE_DIR};HOME=${OVSEG_TEST_HOME}")
