# Pipeline training: losses, augmentation, the [train] recipe, learnable
# stages and weights files, and `ovseg train` end to end (exact resume, the
# frozen / trainable split, zero-shot vocabulary, eval with --weights).
#
# The suite's own test plugin (toy_head: a learnable per-pixel classifier with
# a buffer and an auxiliary loss) is built into ${CMAKE_BINARY_DIR}/test_train_plugins.
if(TARGET ovseg_train AND TARGET ovseg)
  set(OVSEG_TRAIN_TEST_PLUGINS ${CMAKE_BINARY_DIR}/test_train_plugins)
  add_library(train_test_toy_head MODULE ${CMAKE_CURRENT_LIST_DIR}/train/plugins/toy_head.cpp ${OVSEG_PLUGIN_ENTRY_SOURCE})
  target_link_libraries(train_test_toy_head PRIVATE ovseg_sdk)
  set_target_properties(train_test_toy_head PROPERTIES
    OUTPUT_NAME toy_head PREFIX "libovseg_plugin_"
    CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON
    LIBRARY_OUTPUT_DIRECTORY ${OVSEG_TRAIN_TEST_PLUGINS}
    BUILD_RPATH "$ORIGIN/../lib")
  ovseg_add_doctest(test_train USES_CLI
    SOURCES
      ${CMAKE_CURRENT_LIST_DIR}/train/test_losses.cpp
      ${CMAKE_CURRENT_LIST_DIR}/train/test_augment.cpp
      ${CMAKE_CURRENT_LIST_DIR}/train/test_recipe.cpp
      ${CMAKE_CURRENT_LIST_DIR}/train/test_learnable.cpp
      ${CMAKE_CURRENT_LIST_DIR}/train/test_train_pipeline.cpp
    LIBS ovseg_train ovseg_host ovseg_harness ovseg_models ovseg_world ${OpenCV_LIBS})
  target_include_directories(test_train PRIVATE ${OpenCV_INCLUDE_DIRS})
  target_compile_definitions(test_train PRIVATE OVSEG_TRAIN_TEST_PLUGIN_DIR="${OVSEG_TRAIN_TEST_PLUGINS}")
  add_dependencies(test_train train_test_toy_head)
  set_tests_properties(test_train PROPERTIES LABELS train TIMEOUT 900 ENVIRONMENT "OVSEG_PLUGIN_PATH=")
endif()
