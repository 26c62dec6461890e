/* SPDX-License-Identifier: MIT */
/*
 * Built against an installed hotpatch (CMake package or pkg-config). Exits 0
 * if the library it runs with agrees with the header it was compiled with;
 * prints the library's version string on stdout for the caller to compare
 * with pkg-config --modversion. With a patch path argument, also loads and
 * unloads that patch through the installed library.
 */
#include <stdio.h>
#include <string.h>

#include <hotpatch.h>

int main(int argc, char **argv) {
  int bad = 0;
  if (hotpatch_version() != HOTPATCH_VERSION_HEX) {
    fprintf(stderr, "consumer: library version %#x, header %#x\n",
            hotpatch_version(), (unsigned)HOTPATCH_VERSION_HEX);
    bad = 1;
  }
#define CHECK_(name, value, msg)                                               \
  if (strcmp(hotpatch_strerror(HOTPATCH_##name), msg) != 0) {                  \
    fprintf(stderr, "consumer: strerror(HOTPATCH_%s) is \"%s\", header says "  \
                    "\"%s\"\n",                                                \
            #name, hotpatch_strerror(HOTPATCH_##name), msg);                   \
    bad = 1;                                                                   \
  }
  HOTPATCH_ERRNO_MAP(CHECK_)
#undef CHECK_

  if (argc > 1) {
    hotpatch_patch *p = NULL;
    int rc = hotpatch_load(argv[1], &p);
    if (rc != 0) {
      fprintf(stderr, "consumer: hotpatch_load(%s) = %d (%s): %s\n", argv[1],
              rc, hotpatch_strerror(rc), hotpatch_last_error());
      bad = 1;
    } else {
      if (strcmp(hotpatch_name(p), "install-check-patch") != 0) {
        fprintf(stderr, "consumer: loaded patch is named '%s'\n",
                hotpatch_name(p));
        bad = 1;
      }
      rc = hotpatch_unload(p);
      if (rc != 0) {
        fprintf(stderr, "consumer: hotpatch_unload = %d (%s)\n", rc,
                hotpatch_strerror(rc));
        bad = 1;
      }
    }
  }
  if (bad)
    return 1;
  printf("%s\n", hotpatch_version_string());
  return 0;
}
