# The data folder: the files ovseg ships and reads at run time (embedded
# models, pipelines with the demo's spec, published results, benchmark class
# lists), laid out as in the source tree so pipelines' relative paths
# ("../host/models/embedded/...") hold inside it. The build copies them to
# ${CMAKE_BINARY_DIR}/share/ovseg (target ovseg_data, file by file, only what
# changed); `cmake --install` puts them in PREFIX/share/ovseg. The binaries
# find the folder relative to themselves (bin/../share/ovseg) or through
# OVSEG_DATA_DIR (sdk/include/ovseg/sdk/data_dir.hpp): a copied or installed
# build never reads the source tree it was built from.
set(OVSEG_DATA_FOLDERS pipelines host/models/embedded host/harness/class_names results/published)
set(OVSEG_DATA_BUILD_DIR ${CMAKE_BINARY_DIR}/share/ovseg)
set(_ovseg_data_outputs "")
foreach(folder ${OVSEG_DATA_FOLDERS})
  file(GLOB_RECURSE _files CONFIGURE_DEPENDS RELATIVE ${CMAKE_SOURCE_DIR} ${CMAKE_SOURCE_DIR}/${folder}/*)
  foreach(f ${_files})
    add_custom_command(OUTPUT ${OVSEG_DATA_BUILD_DIR}/${f}
      COMMAND ${CMAKE_COMMAND} -E copy ${CMAKE_SOURCE_DIR}/${f} ${OVSEG_DATA_BUILD_DIR}/${f}
      DEPENDS ${CMAKE_SOURCE_DIR}/${f}
      VERBATIM)
    list(APPEND _ovseg_data_outputs ${OVSEG_DATA_BUILD_DIR}/${f})
  endforeach()
  install(DIRECTORY ${folder}/ DESTINATION share/ovseg/${folder})
endforeach()
add_custom_target(ovseg_data ALL DEPENDS ${_ovseg_data_outputs})
