# Harness core: protocol (resize, windows, stitching, phase split), `ovseg
# eval` records, resume after a kill, shard merge and `ovseg table`.
if(TARGET ovseg_harness AND TARGET ovseg)
  ovseg_add_doctest(test_eval USES_CLI
    SOURCES
      ${CMAKE_CURRENT_LIST_DIR}/eval/test_protocol.cpp
      ${CMAKE_CURRENT_LIST_DIR}/eval/test_inference.cpp
      ${CMAKE_CURRENT_LIST_DIR}/eval/test_window_batcher.cpp
      ${CMAKE_CURRENT_LIST_DIR}/eval/test_eval_cli.cpp
      ${CMAKE_CURRENT_LIST_DIR}/eval/test_sweep.cpp
      ${CMAKE_CURRENT_LIST_DIR}/eval/test_honest_records.cpp
    LIBS ovseg_host ovseg_harness ovseg_models ovseg_world)
  set_tests_properties(test_eval PROPERTIES
    LABELS eval TIMEOUT 300
    ENVIRONMENT "OVSEG_PLUGIN_PATH=")
endif()

# Tables and the HTML report from synthetic records: layouts, marks, Avg, Δ,
# published rows, ablations, LaTeX / Markdown / CSV, the report's grid rules.
if(TARGET ovseg_host)
  ovseg_add_doctest(test_tables
    SOURCES
      ${CMAKE_CURRENT_LIST_DIR}/eval/test_tables.cpp
      ${CMAKE_CURRENT_LIST_DIR}/eval/test_report.cpp
    LIBS ovseg_host ovseg_harness ${OpenCV_LIBS})
  target_include_directories(test_tables PRIVATE ${OpenCV_INCLUDE_DIRS})
  set_tests_properties(test_tables PROPERTIES LABELS eval TIMEOUT 120)
endif()
