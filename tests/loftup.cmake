# LoftUp (issue 19): the model and its checkpoint layout, parity with the
# authors' code (test_loftup_model.cpp), the loftup plugin, its stage-1
# pseudo ground truth and `ovseg train` / `ovseg eval` of a LoftUp pipeline
# (test_loftup_plugin.cpp).
if(TARGET ovseg_models AND TARGET ovseg_world AND TARGET ovseg)
  ovseg_add_doctest(test_loftup USES_CLI
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/loftup/test_loftup_model.cpp
            ${CMAKE_CURRENT_SOURCE_DIR}/loftup/test_loftup_plugin.cpp
    LIBS ovseg_host ovseg_models ovseg_world ${OpenCV_LIBS})
  target_include_directories(test_loftup PRIVATE ${OpenCV_INCLUDE_DIRS})
  set_tests_properties(test_loftup PROPERTIES LABELS loftup TIMEOUT 600 ENVIRONMENT "OVSEG_PLUGIN_PATH=")
endif()
