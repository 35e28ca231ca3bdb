# Postprocess plugins: pamr and densecrf, run from their built libraries; the
# densecrf suite also compiles the lattice and mean field directly.
set(_pp_crf ${CMAKE_SOURCE_DIR}/plugins/densecrf)
ovseg_add_doctest(test_postprocess
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/postprocess/test_pamr.cpp
          ${CMAKE_CURRENT_SOURCE_DIR}/postprocess/test_densecrf.cpp
          ${CMAKE_CURRENT_SOURCE_DIR}/postprocess/test_postprocess_pipeline.cpp
          ${_pp_crf}/permutohedral.cpp ${_pp_crf}/mean_field.cpp
  LIBS ovseg_host)
target_include_directories(test_postprocess PRIVATE ${_pp_crf})
# The pipeline test also runs these plugins.
add_dependencies(test_postprocess pamr densecrf pixel_features class_embeddings cosine_logits
  resize_logits argmax)
set_tests_properties(test_postprocess PROPERTIES LABELS postprocess TIMEOUT 300)
