# The researcher's loop (issue 22): several pipelines in one `ovseg eval`,
# pipeline lists, per-pipeline failures, `ovseg table --results` globs,
# experiment folders (--work-dir), sweep labels in records, a sweep's data
# sets from the command line, sweep paths relative to the sweep file, and
# the README's walkthrough block run as written on a tiny world.
if(TARGET ovseg_host AND TARGET ovseg)
  ovseg_add_doctest(test_loop USES_CLI
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/loop/test_study.cpp
            ${CMAKE_CURRENT_LIST_DIR}/loop/test_sweep_paths.cpp
            ${CMAKE_CURRENT_LIST_DIR}/loop/test_walkthrough.cpp
    LIBS ovseg_host ovseg_harness ovseg_models ovseg_world)
  target_include_directories(test_loop PRIVATE ${CMAKE_CURRENT_LIST_DIR}/eval)
  set_tests_properties(test_loop PROPERTIES LABELS eval TIMEOUT 300 ENVIRONMENT "OVSEG_PLUGIN_PATH=")
endif()
