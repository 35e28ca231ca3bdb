# Training-free last-block refinements (plugins/training_free): exactness
# against re-stated formulas, CLIPtrase's clustering, pipelines end to end.
if(TARGET ovseg_models)
  ovseg_add_doctest(test_training_free USES_CLI
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/training_free/test_refinements.cpp
            ${CMAKE_CURRENT_SOURCE_DIR}/training_free/test_cliptrase.cpp
            ${CMAKE_CURRENT_SOURCE_DIR}/training_free/test_pipelines.cpp
            ${CMAKE_CURRENT_SOURCE_DIR}/training_free/test_author_parity.cpp
            ${CMAKE_SOURCE_DIR}/plugins/training_free/cluster_ops.cpp
    LIBS ovseg_host ovseg_models)
  target_include_directories(test_training_free PRIVATE ${CMAKE_SOURCE_DIR}/plugins/training_free)
endif()
