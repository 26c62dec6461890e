# SPDX-License-Identifier: MIT
#
# cmake -DNM=<nm> -DMODE=<mode> [-DSHARED=<libhotpatch.so>] [-DSTATIC=<libhotpatch.a>]
#       [-DHEADER=<hotpatch.h>] -P check-exports.cmake
#
# MODE=exports  The shared library's dynamic symbol table defines only
#               hotpatch_* (plus the version node HOTPATCH_0.1 itself, which
#               nm shows as an absolute symbol), and every one of them carries
#               a HOTPATCH_ version; the static archive's global definitions
#               are only hotpatch_* / hp_*.
# MODE=header   Every function the public header declares with HOTPATCH_API
#               is defined and exported by the shared library.
#
# Runs the target's nm (CMAKE_NM: aarch64-linux-gnu-nm in the cross build),
# so it needs no emulator; nm only reads the files.
cmake_minimum_required(VERSION 3.16)

foreach(v NM MODE)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "check-exports.cmake: -D${v}= is required")
  endif()
endforeach()

# nm <args> <file>: the output as a list of lines; fails the test on error.
function(hp_nm out file)
  if(NOT EXISTS "${file}")
    message(FATAL_ERROR "no such file: ${file}")
  endif()
  execute_process(COMMAND "${NM}" ${ARGN} "${file}"
    RESULT_VARIABLE rc OUTPUT_VARIABLE text ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${NM} ${ARGN} ${file} failed (${rc}): ${err}")
  endif()
  string(REPLACE ";" "\\;" text "${text}")
  string(REPLACE "\n" ";" lines "${text}")
  set(${out} "${lines}" PARENT_SCOPE)
endfunction()

# The names defined by "nm -D --defined-only <so>", with their @VERSION.
function(hp_dynamic_defs out so)
  hp_nm(lines "${so}" -D --defined-only)
  set(names "")
  foreach(line IN LISTS lines)
    # "<addr> <type> <name>[@[@]VERSION]"
    if(line MATCHES "^[0-9a-fA-F]* *([A-Za-z]) (.+)$")
      list(APPEND names "${CMAKE_MATCH_1} ${CMAKE_MATCH_2}")
    endif()
  endforeach()
  set(${out} "${names}" PARENT_SCOPE)
endfunction()

set(failures "")

if(MODE STREQUAL "exports")
  hp_dynamic_defs(defs "${SHARED}")
  set(good 0)
  foreach(d IN LISTS defs)
    string(REGEX REPLACE "^. " "" sym "${d}")
    string(REGEX REPLACE "@.*$" "" name "${sym}")
    if(d MATCHES "^A " AND name MATCHES "^HOTPATCH_[0-9.]+$")
      continue() # the version node itself
    endif()
    if(NOT name MATCHES "^hotpatch_")
      list(APPEND failures "shared library exports '${sym}' (not hotpatch_*)")
    elseif(NOT sym MATCHES "@@?HOTPATCH_[0-9.]+$")
      list(APPEND failures "shared library exports '${sym}' without a HOTPATCH_ version node")
    else()
      math(EXPR good "${good} + 1")
    endif()
  endforeach()
  if(good EQUAL 0)
    list(APPEND failures "shared library exports no hotpatch_* symbol at all (nm output not understood?)")
  endif()
  message(STATUS "${SHARED}: ${good} exported hotpatch_* symbols")

  hp_nm(lines "${STATIC}" -g --defined-only)
  set(good 0)
  set(member "?")
  foreach(line IN LISTS lines)
    if(line MATCHES "^(.+):$")
      set(member "${CMAKE_MATCH_1}")
    elseif(line MATCHES "^[0-9a-fA-F]* *([A-Za-z]) (.+)$")
      set(name "${CMAKE_MATCH_2}")
      if(name MATCHES "^(hotpatch|hp)_")
        math(EXPR good "${good} + 1")
      elseif(name MATCHES "^__odr_asan\\.(hotpatch|hp)_")
        # ASan's one-definition-rule indicator for our own global variable.
      else()
        list(APPEND failures
          "static archive member ${member} defines global '${name}' (not hotpatch_*/hp_*)")
      endif()
    endif()
  endforeach()
  if(good EQUAL 0)
    list(APPEND failures "static archive defines no hotpatch_*/hp_* symbol at all")
  endif()
  message(STATUS "${STATIC}: ${good} global hotpatch_*/hp_* definitions")

elseif(MODE STREQUAL "header")
  file(READ "${HEADER}" text)
  # Drop comments, then find "HOTPATCH_API <type> [*]hotpatch_x(".
  string(REGEX REPLACE "/\\*([^*]|\\*+[^*/])*\\*+/" " " text "${text}")
  string(REGEX REPLACE "//[^\n]*" " " text "${text}")
  string(REGEX MATCHALL "HOTPATCH_API[^;(){}#]*[ \t\n*]hotpatch_[A-Za-z0-9_]+[ \t\n]*\\("
    decls "${text}")
  set(api "")
  foreach(d IN LISTS decls)
    string(REGEX MATCH "hotpatch_[A-Za-z0-9_]+[ \t\n]*\\($" fn "${d}")
    string(REGEX REPLACE "[ \t\n]*\\($" "" fn "${fn}")
    list(APPEND api "${fn}")
  endforeach()
  list(REMOVE_DUPLICATES api)
  list(LENGTH api n)
  if(n EQUAL 0)
    list(APPEND failures "found no HOTPATCH_API function in ${HEADER}")
  endif()

  hp_dynamic_defs(defs "${SHARED}")
  set(exported "")
  foreach(d IN LISTS defs)
    if(d MATCHES "^[TtWwi] ([^@]+)")
      list(APPEND exported "${CMAKE_MATCH_1}")
    endif()
  endforeach()
  foreach(fn IN LISTS api)
    if(NOT fn IN_LIST exported)
      list(APPEND failures
        "${fn} is declared HOTPATCH_API in hotpatch.h but not defined in the shared library")
    endif()
  endforeach()
  message(STATUS "hotpatch.h declares ${n} HOTPATCH_API functions")

else()
  message(FATAL_ERROR "unknown MODE '${MODE}'")
endif()

if(failures)
  list(LENGTH failures nf)
  string(REPLACE ";" "\n  " msg "${failures}")
  message(FATAL_ERROR "${nf} problem(s):\n  ${msg}")
endif()
message(STATUS "OK")
