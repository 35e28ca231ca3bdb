# CAT-Seg (plugins/catseg): parity with the authors' code on random
# checkpoints in the released detectron2 layout, the loader's errors, what
# trains, and ovseg train / eval of a CAT-Seg pipeline on a tiny world; ESC-Net's
# pseudo prompts and SAM blocks (the escnet stage).
if(TARGET ovseg_train AND TARGET ovseg)
  ovseg_add_doctest(test_catseg USES_CLI
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/catseg/test_catseg.cpp
            ${CMAKE_CURRENT_LIST_DIR}/catseg/test_catseg_parity.cpp
            ${CMAKE_CURRENT_LIST_DIR}/catseg/test_catseg_train.cpp
            ${CMAKE_CURRENT_LIST_DIR}/catseg/test_escnet.cpp
            ${CMAKE_CURRENT_LIST_DIR}/../plugins/catseg/escnet_sam_block.cpp
    LIBS ovseg_train ovseg_host ovseg_harness ovseg_models ovseg_world ${OpenCV_LIBS})
  target_include_directories(test_catseg PRIVATE ${OpenCV_INCLUDE_DIRS})
  set_tests_properties(test_catseg PROPERTIES LABELS catseg TIMEOUT 900 ENVIRONMENT "OVSEG_PLUGIN_PATH=")
endif()
