# SCHNet (issue 18, plugins/schnet): parameters and the weights layout, a
# zero-initialised SRM / FTM equal to plain SAM, flip test-time augmentation
# with left/right channels exchanged, and a 2-step `ovseg train` + `ovseg
# eval` on a tiny people world (LIP layout) with the shipped world SAM / CLIP.
if(TARGET ovseg_models AND TARGET ovseg_world AND TARGET ovseg)
  ovseg_add_doctest(test_schnet USES_CLI
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/schnet/test_schnet.cpp
            ${CMAKE_CURRENT_LIST_DIR}/../plugins/schnet/schnet_modules.cpp
    LIBS ovseg_host ovseg_models ovseg_world ${OpenCV_LIBS})
  target_include_directories(test_schnet PRIVATE ${OpenCV_INCLUDE_DIRS} ${CMAKE_CURRENT_LIST_DIR}/../plugins/schnet)
  set_tests_properties(test_schnet PROPERTIES LABELS schnet TIMEOUT 600 ENVIRONMENT "OVSEG_PLUGIN_PATH=")
endif()
