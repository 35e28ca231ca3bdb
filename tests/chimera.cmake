# Chimera-Seg (plugins/chimera): the CLIP Semantic Head against the CLIP tower
# (same weights, same numbers; frozen through training steps), the SGD
# selection schedule, the SGD and SAM losses, and ovseg train / eval of a
# Chimera-Seg pipeline on a tiny world.
if(TARGET ovseg_train AND TARGET ovseg)
  ovseg_add_doctest(test_chimera USES_CLI
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/chimera/test_chimera.cpp
            ${CMAKE_CURRENT_LIST_DIR}/chimera/test_chimera_train.cpp
            ${CMAKE_SOURCE_DIR}/plugins/chimera/chimera_losses.cpp
    LIBS ovseg_train ovseg_host ovseg_harness ovseg_models ovseg_world ${OpenCV_LIBS})
  target_include_directories(test_chimera PRIVATE ${OpenCV_INCLUDE_DIRS} ${CMAKE_SOURCE_DIR}/plugins/chimera)
  set_tests_properties(test_chimera PROPERTIES LABELS chimera TIMEOUT 600 ENVIRONMENT "OVSEG_PLUGIN_PATH=")
endif()
