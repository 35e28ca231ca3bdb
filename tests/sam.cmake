# SAM / MobileSAM (libovseg_models sam_*): parity with the authors' code,
# checkpoint layouts and loaders, pre/post-processing, automatic masks, the
# plugins and `ovseg sam`.
if(TARGET ovseg_models)
  ovseg_add_doctest(test_sam
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/sam/test_sam_parity.cpp
            ${CMAKE_CURRENT_SOURCE_DIR}/sam/test_sam_model.cpp
            ${CMAKE_CURRENT_SOURCE_DIR}/sam/test_sam_auto_masks.cpp
    LIBS ovseg_models)
  set_tests_properties(test_sam PROPERTIES LABELS sam TIMEOUT 600)
endif()
# The SAM plugins (graphs, validation messages) and `ovseg sam`.
if(TARGET ovseg_models AND TARGET sam)
  ovseg_add_doctest(test_sam_plugins USES_CLI
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/sam/test_sam_plugins.cpp
    LIBS ovseg_host ovseg_models)
  set_tests_properties(test_sam_plugins PROPERTIES LABELS sam TIMEOUT 600 ENVIRONMENT "OVSEG_PLUGIN_PATH=")
endif()
# World SAM: losses, instance folders, click evaluation, the training task,
# and the shipped model's quality bar.
if(TARGET ovseg_train AND TARGET ovseg_world)
  ovseg_add_doctest(test_sam_training
    SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/sam/test_sam_training.cpp
            ${CMAKE_CURRENT_SOURCE_DIR}/sam/test_world_sam.cpp
    LIBS ovseg_train ovseg_models ovseg_world ${OpenCV_LIBS})
  target_include_directories(test_sam_training PRIVATE ${OpenCV_INCLUDE_DIRS})
  set_tests_properties(test_sam_training PROPERTIES LABELS sam TIMEOUT 600)
endif()
