# CLIP-RC (plugins/cliprc): the CLIP tower's token hook, the encoder's masks,
# the released checkpoint layout, the head, calibration and mask losses,
# parity with the authors' code, and ovseg train / eval of a CLIP-RC pipeline.
if(TARGET ovseg_train AND TARGET ovseg)
  ovseg_add_doctest(test_cliprc USES_CLI
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/cliprc/test_cliprc.cpp
            ${CMAKE_CURRENT_LIST_DIR}/cliprc/test_cliprc_parity.cpp
            ${CMAKE_CURRENT_LIST_DIR}/cliprc/test_cliprc_train.cpp
    LIBS ovseg_train ovseg_host ovseg_harness ovseg_models ovseg_world ${OpenCV_LIBS})
  target_include_directories(test_cliprc PRIVATE ${OpenCV_INCLUDE_DIRS})
  set_tests_properties(test_cliprc PROPERTIES LABELS cliprc TIMEOUT 900 ENVIRONMENT "OVSEG_PLUGIN_PATH=")
endif()
