# clip_image / clip_text plugins, the model zoo and the CLI's model commands.
if(TARGET ovseg_models)
  ovseg_add_doctest(test_clip_plugins
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/clip/test_clip_plugins.cpp
            ${CMAKE_CURRENT_SOURCE_DIR}/clip/test_model_commands.cpp
    LIBS ovseg_host ovseg_models)
  target_compile_definitions(test_clip_plugins PRIVATE OVSEG_CLI="$<TARGET_FILE:ovseg>")
  get_property(_plugins GLOBAL PROPERTY OVSEG_PLUGIN_TARGETS)
  add_dependencies(test_clip_plugins ovseg ${_plugins})
endif()
