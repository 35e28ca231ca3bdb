# The embedded default: the procedural world, the trainer, CLIP contrastive
# training, and `ovseg demo` with the shipped model and its quality bar.
if(TARGET ovseg_world AND TARGET ovseg_train AND TARGET ovseg)
  ovseg_add_doctest(test_embedded USES_CLI
    SOURCES
      ${CMAKE_CURRENT_LIST_DIR}/embedded/test_world.cpp
      ${CMAKE_CURRENT_LIST_DIR}/embedded/test_world_v1.cpp
      ${CMAKE_CURRENT_LIST_DIR}/embedded/test_trainer.cpp
      ${CMAKE_CURRENT_LIST_DIR}/embedded/test_clip_training.cpp
      ${CMAKE_CURRENT_LIST_DIR}/embedded/test_train_sam_resume.cpp
      ${CMAKE_CURRENT_LIST_DIR}/embedded/test_demo.cpp
    LIBS ovseg_world ovseg_train ovseg_host ovseg_harness ovseg_models)
  set_tests_properties(test_embedded PROPERTIES LABELS embedded TIMEOUT 600)
endif()
