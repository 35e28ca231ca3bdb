# MaskCLIP++ (plugins/maskclippp): parity of the mask classification, merge,
# loss and ensemble with the authors' code, the released checkpoint layout,
# gt_segments, the classifier stage, and ovseg train / eval of an oracle pipeline.
if(TARGET ovseg_train AND TARGET ovseg)
  ovseg_add_doctest(test_maskclippp USES_CLI
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/maskclippp/test_maskclippp.cpp
            ${CMAKE_CURRENT_LIST_DIR}/maskclippp/test_maskclippp_parity.cpp
            ${CMAKE_SOURCE_DIR}/plugins/maskclippp/maskclippp_core.cpp
            ${CMAKE_SOURCE_DIR}/plugins/maskclippp/maskclippp_checkpoint.cpp
    LIBS ovseg_train ovseg_host ovseg_harness ovseg_models ovseg_world ${OpenCV_LIBS})
  target_include_directories(test_maskclippp PRIVATE ${OpenCV_INCLUDE_DIRS} ${CMAKE_SOURCE_DIR}/plugins/maskclippp
                             ${CMAKE_CURRENT_LIST_DIR})
  set_tests_properties(test_maskclippp PROPERTIES LABELS maskclippp TIMEOUT 900 ENVIRONMENT "OVSEG_PLUGIN_PATH=")
endif()
