# The SDK boundary: the typed model handle, Params' list getters and
# choices, the data folder found relative to the binary.
if(TARGET ovseg_models)
  ovseg_add_doctest(test_sdk USES_CLI
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/sdk/test_model_handle.cpp
            ${CMAKE_CURRENT_LIST_DIR}/sdk/test_params.cpp
            ${CMAKE_CURRENT_LIST_DIR}/sdk/test_data_dir.cpp
            ${CMAKE_CURRENT_LIST_DIR}/sdk/test_bilinear.cpp
    LIBS ovseg_host ovseg_models)
  set_tests_properties(test_sdk PROPERTIES LABELS sdk TIMEOUT 300 ENVIRONMENT "OVSEG_PLUGIN_PATH=")
endif()
