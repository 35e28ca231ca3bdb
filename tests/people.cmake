# The people world (human figures in LIP / CIHP / PASCAL-Person-Part layouts)
# and the person-focused table.
if(TARGET ovseg_world AND TARGET ovseg_harness)
  ovseg_add_doctest(test_people_world
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/people/test_people_world.cpp
    LIBS ovseg_world ovseg_harness)
  set_tests_properties(test_people_world PROPERTIES LABELS people TIMEOUT 120)
endif()

if(TARGET ovseg_host)
  ovseg_add_doctest(test_class_focus
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/people/test_class_focus.cpp
    LIBS ovseg_host ovseg_harness)
  set_tests_properties(test_class_focus PROPERTIES LABELS people TIMEOUT 60)
endif()

if(TARGET ovseg_train)
  ovseg_add_doctest(test_flip_swap
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/people/test_flip_swap.cpp
    LIBS ovseg_train)
  set_tests_properties(test_flip_swap PROPERTIES LABELS people TIMEOUT 60)
endif()

# The object-level people world (world v2 + person) and train-clip reading it.
if(TARGET ovseg_world AND TARGET ovseg_harness AND TARGET ovseg_train)
  ovseg_add_doctest(test_people_object_world
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/people/test_people_object_world.cpp
    LIBS ovseg_world ovseg_harness ovseg_train ovseg_models)
  set_tests_properties(test_people_object_world PROPERTIES LABELS people TIMEOUT 120)
endif()
