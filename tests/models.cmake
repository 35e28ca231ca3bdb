# Tests of libovseg_models (CLIP model, checkpoint loaders, SHA-256).
# Included by tests/CMakeLists.txt; CMAKE_CURRENT_SOURCE_DIR is tests/.
if(TARGET ovseg_models)
  ovseg_add_doctest(test_models
    SOURCES
      ${CMAKE_CURRENT_SOURCE_DIR}/models/test_clip_model.cpp
      ${CMAKE_CURRENT_SOURCE_DIR}/models/test_checkpoint_io.cpp
    LIBS ovseg_models)
endif()
