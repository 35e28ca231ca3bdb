# Mixed precision (`--precision`, host/include/ovseg/host/precision.hpp):
# which stages run under autocast, float32 at node boundaries, bf16 logits
# against fp32, the text cache per precision, records and table labels, errors.
if(TARGET ovseg_host AND TARGET ovseg)
  ovseg_add_doctest(test_precision USES_CLI
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/precision/test_precision.cpp
    LIBS ovseg_host ovseg_harness ovseg_models)
  set_tests_properties(test_precision PROPERTIES LABELS precision TIMEOUT 300 ENVIRONMENT "OVSEG_PLUGIN_PATH=")
endif()
