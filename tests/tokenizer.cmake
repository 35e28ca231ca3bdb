# CLIP BPE tokenizer (part of libovseg_models).
if(TARGET ovseg_models)
  ovseg_add_doctest(test_tokenizer
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/models/test_clip_tokenizer.cpp
    LIBS ovseg_models)
endif()

# host/models/src/clip_tokenizer_tables.cpp is generated: regenerating it
# (scripts/gen_clip_tokenizer_tables.py, Python's standard library only)
# must reproduce the committed file byte for byte.
find_package(Python3 COMPONENTS Interpreter QUIET)
if(Python3_Interpreter_FOUND)
  add_test(NAME tokenizer_tables_regenerate
    COMMAND sh -c "\"$0\" \"$1\" | cmp - \"$2\""
      ${Python3_EXECUTABLE}
      ${CMAKE_SOURCE_DIR}/scripts/gen_clip_tokenizer_tables.py
      ${CMAKE_SOURCE_DIR}/host/models/src/clip_tokenizer_tables.cpp)
endif()
