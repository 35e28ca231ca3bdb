# ovseg_add_plugin(NAME src.cpp... [LIBS lib...]): one plugin = one shared
# library named libovseg_plugin_NAME.so. The entry point (ABI version +
# descriptor list, OVSEG_PLUGIN_ENTRY_SOURCE) is compiled into each plugin;
# everything else stays hidden so plugins cannot clash. Used in this tree
# (plugins/*) and, through find_package(ovseg), by plugins built outside it.
# Installed to lib/ovseg/plugins, where the installed `ovseg` looks.
function(ovseg_add_plugin name)
  cmake_parse_arguments(P "" "" "SOURCES;LIBS" ${ARGN})
  add_library(${name} MODULE ${P_SOURCES} ${P_UNPARSED_ARGUMENTS} ${OVSEG_PLUGIN_ENTRY_SOURCE})
  target_link_libraries(${name} PRIVATE ovseg::sdk ${P_LIBS})
  set_target_properties(${name} PROPERTIES
    PREFIX "libovseg_plugin_"
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    # lib/ovseg/plugins -> lib, where libovseg_sdk lives once installed
    INSTALL_RPATH "$ORIGIN/../..;${OVSEG_LIBRARY_DIR}")
  if(OVSEG_PLUGIN_OUTPUT_DIR)  # in this tree: beside the other plugins
    set_target_properties(${name} PROPERTIES
      LIBRARY_OUTPUT_DIRECTORY ${OVSEG_PLUGIN_OUTPUT_DIR}
      BUILD_RPATH "$ORIGIN/../..")
  endif()
  install(TARGETS ${name} LIBRARY DESTINATION lib/ovseg/plugins)
  set_property(GLOBAL APPEND PROPERTY OVSEG_PLUGIN_TARGETS ${name})
endfunction()
