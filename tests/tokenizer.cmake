# CLIP BPE tokenizer (part of libovseg_models).
if(TARGET ovseg_models)
  ovseg_add_doctest(test_tokenizer
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/models/test_clip_tokenizer.cpp
    LIBS ovseg_models)
endif()
