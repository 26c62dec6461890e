/* SPDX-License-Identifier: MIT */
#include "hotpatch.h"

#define HP_STR_(x) #x
#define HP_STR(x) HP_STR_(x)

unsigned hotpatch_version(void) { return HOTPATCH_VERSION_HEX; }

const char *hotpatch_version_string(void) {
  return HP_STR(HOTPATCH_VERSION_MAJOR) "." HP_STR(
      HOTPATCH_VERSION_MINOR) "." HP_STR(HOTPATCH_VERSION_PATCH);
}
