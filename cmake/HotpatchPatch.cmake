# SPDX-License-Identifier: MIT
#
# hotpatch_add_patch(<name> SOURCES <src>... [LINK_LIBRARIES <lib>...])
#
# Build a patch object <name>.so (no "lib" prefix) that hotpatch_load() can
# open: a MODULE library, position-independent, -fvisibility=hidden so that
# only the descriptor HOTPATCH_DEFINE exports is visible, and linked with
# -z now (the loader opens it RTLD_NOW anyway) and -z defs relaxed, because a
# patch calls into the process it is loaded into.
function(hotpatch_add_patch name)
  cmake_parse_arguments(HP "" "" "SOURCES;LINK_LIBRARIES" ${ARGN})
  if(NOT HP_SOURCES)
    message(FATAL_ERROR "hotpatch_add_patch(${name}): SOURCES is required")
  endif()
  add_library(${name} MODULE ${HP_SOURCES})
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    C_VISIBILITY_PRESET hidden
    POSITION_INDEPENDENT_CODE ON)
  target_link_options(${name} PRIVATE -Wl,-z,now)
  if(TARGET hotpatch::hotpatch)
    # Headers only: the patch finds the library's functions in the process.
    target_include_directories(${name} PRIVATE
      $<TARGET_PROPERTY:hotpatch::hotpatch,INTERFACE_INCLUDE_DIRECTORIES>)
  endif()
  if(HP_LINK_LIBRARIES)
    target_link_libraries(${name} PRIVATE ${HP_LINK_LIBRARIES})
  endif()
endfunction()
