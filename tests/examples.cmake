# The README tutorials' plugins (plugins/examples): hybrid_attention, the
# CLIP-using refinement built on ovseg_clip_blocks.
if(TARGET hybrid_attention)
  ovseg_add_doctest(test_examples USES_CLI
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/examples/test_hybrid_attention.cpp
    LIBS ovseg_host ovseg_models)
  set_tests_properties(test_examples PROPERTIES LABELS examples TIMEOUT 120)
endif()
