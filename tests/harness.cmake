# Tests of libovseg_harness (metrics, label I/O, COCO masks, data sets).
if(TARGET ovseg_harness)
  ovseg_add_doctest(test_harness
    SOURCES
      ${CMAKE_CURRENT_LIST_DIR}/harness/test_metrics.cpp
      ${CMAKE_CURRENT_LIST_DIR}/harness/test_coco_object.cpp
      ${CMAKE_CURRENT_LIST_DIR}/harness/test_datasets.cpp
      ${CMAKE_CURRENT_LIST_DIR}/harness/test_zero_shot.cpp
      ${CMAKE_CURRENT_LIST_DIR}/harness/test_boundary.cpp
    LIBS ovseg_harness)
  target_compile_definitions(test_harness PRIVATE
    OVSEG_HARNESS_TEST_DATA="${CMAKE_CURRENT_LIST_DIR}/harness/data")
endif()
