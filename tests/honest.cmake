# Honest comparisons (issue 11): base chains, per-dataset settings and
# --unset in pipeline files; the data set owns the vocabulary (a mismatching
# class list is an error, [vocabulary] map remaps); every method pipeline on
# every data-set adapter with the data set's own vocabulary and settings;
# tables keep rows per pipeline and columns per vocabulary.
if(TARGET ovseg_host AND TARGET ovseg)
  ovseg_add_doctest(test_honest USES_CLI
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/honest/test_pipeline_document.cpp
            ${CMAKE_CURRENT_LIST_DIR}/honest/test_dataset_settings.cpp
            ${CMAKE_CURRENT_LIST_DIR}/honest/test_vocabulary.cpp
            ${CMAKE_CURRENT_LIST_DIR}/honest/test_every_adapter.cpp
    LIBS ovseg_host ovseg_harness ovseg_models ovseg_world ${OpenCV_LIBS})
  target_include_directories(test_honest PRIVATE ${OpenCV_INCLUDE_DIRS} ${CMAKE_CURRENT_LIST_DIR}/eval)
  set_tests_properties(test_honest PROPERTIES LABELS eval TIMEOUT 300 ENVIRONMENT "OVSEG_PLUGIN_PATH=")
endif()
