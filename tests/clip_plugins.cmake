# clip_image / clip_text plugins, the model zoo and the CLI's model commands.
if(TARGET ovseg_models)
  ovseg_add_doctest(test_clip_plugins USES_CLI
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/clip/test_clip_plugins.cpp
            ${CMAKE_CURRENT_SOURCE_DIR}/clip/test_model_commands.cpp
    LIBS ovseg_host ovseg_models)
endif()
