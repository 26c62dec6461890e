/* SPDX-License-Identifier: MIT */
/*
 * Reading a mapping's VmFlags from /proc/self/smaps (hp_smaps_vmflag,
 * src/arch/aarch64/guard.c), where an arm64 kernel says "bt" for a
 * BTI-guarded page: on hand-written text on every host, and on this
 * process's own smaps where it is this process's (natively; qemu-user 7.2
 * passes the host's file through). That the kernel prints "bt" for the
 * pages the loader guards is checked by rewrite_landing, on arm64 hosts
 * whose smaps shows it.
 */
#include "hp_test.h"

#include <stdio.h>
#include <string.h>

#include "arch/aarch64/guard.h"

static const char smaps[] =
    "00400000-00452000 r-xp 00000000 08:01 1234                     "
    "/usr/bin/prog\n"
    "Size:                328 kB\n"
    "Rss:                 300 kB\n"
    "VmFlags: rd ex mr mw me dw \n"
    "7f0000000000-7f0000021000 r-xp 00000000 08:01 99   /lib/libbti.so\n"
    "Size:                132 kB\n"
    "THPeligible:    0\n"
    "VmFlags: rd ex mr mw me bt \n"
    "7f0000100000-7f0000101000 rw-p 00000000 00:00 0 \n"
    "Size:                  4 kB\n"
    "7f0000200000-7f0000201000 r--p 00000000 00:00 0    /tmp/VmFlags: bt\n"
    "Anonymous:             0 kB\n"
    "VmFlags: rd mr mw me xbt btx\n";

static int flag_at(uintptr_t addr, const char *flag) {
  FILE *f = fmemopen((void *)smaps, sizeof smaps - 1, "r");
  assert_non_null(f);
  int rc = hp_smaps_vmflag(f, addr, flag);
  fclose(f);
  return rc;
}

static void reads_bt_of_the_mapping_holding_the_address(void **state) {
  (void)state;
  assert_int_equal(flag_at(0x7f0000000000, "bt"), 1);
  assert_int_equal(flag_at(0x7f0000020fff, "bt"), 1);
  assert_int_equal(flag_at(0x00400000, "bt"), 0);
  assert_int_equal(flag_at(0x00451fff, "ex"), 1);
  assert_int_equal(flag_at(0x00451fff, "dw"), 1); /* the last word */
}

static void end_of_a_mapping_is_outside_it(void **state) {
  (void)state;
  assert_int_equal(flag_at(0x00452000, "rd"), -1); /* a gap */
  assert_int_equal(flag_at(0x7f0000021000, "bt"), -1);
}

static void mapping_without_vmflags_is_unknown(void **state) {
  (void)state;
  /* Its Size line is followed by the next mapping's header, whose own
   * VmFlags must not be taken for it. */
  assert_int_equal(flag_at(0x7f0000100000, "rd"), -1);
}

static void matches_whole_words_only(void **state) {
  (void)state;
  /* "xbt" and "btx" are not "bt"; a path that reads "VmFlags: bt" is
   * part of a header line. */
  assert_int_equal(flag_at(0x7f0000200000, "bt"), 0);
  assert_int_equal(flag_at(0x7f0000200000, "me"), 1);
}

static void empty_stream_is_unknown(void **state) {
  (void)state;
  FILE *f = fmemopen((void *)"", 1, "r");
  assert_non_null(f);
  assert_int_equal(hp_smaps_vmflag(f, 0x1000, "bt"), -1);
  fclose(f);
}

/* The perms of the mapping holding `addr` in `path`'s header lines. */
static int perms_in(const char *path, uintptr_t addr, char perms[5]) {
  FILE *f = fopen(path, "r");
  if (!f)
    return 0;
  char line[4096];
  int found = 0;
  while (!found && fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) == 3 && addr >= lo &&
        addr < hi)
      found = 1;
  }
  fclose(f);
  return found;
}

static void reads_the_smaps_of_this_process(void **state) {
  (void)state;
  uintptr_t code = (uintptr_t)reads_the_smaps_of_this_process;
  uintptr_t data = (uintptr_t)&code;
  char in_maps[5] = "", in_smaps[5] = "";
  assert_true(perms_in("/proc/self/maps", code, in_maps));
  if (!perms_in("/proc/self/smaps", code, in_smaps) ||
      strcmp(in_maps, in_smaps)) {
    printf("SKIPPED: /proc/self/smaps is not this process's view here (code "
           "at %#lx is %s in maps, %s in smaps: qemu-user 7.2 passes the "
           "host's smaps through)\n",
           (unsigned long)code, in_maps, in_smaps[0] ? in_smaps : "absent");
    fflush(stdout);
    skip();
  }
  FILE *f = fopen("/proc/self/smaps", "r");
  assert_non_null(f);
  assert_int_equal(hp_smaps_vmflag(f, code, "ex"), 1);
  rewind(f);
  assert_int_equal(hp_smaps_vmflag(f, data, "ex"), 0);
  rewind(f);
  assert_int_equal(hp_smaps_vmflag(f, data, "wr"), 1);
  fclose(f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(reads_bt_of_the_mapping_holding_the_address),
      cmocka_unit_test(end_of_a_mapping_is_outside_it),
      cmocka_unit_test(mapping_without_vmflags_is_unknown),
      cmocka_unit_test(matches_whole_words_only),
      cmocka_unit_test(empty_stream_is_unknown),
      cmocka_unit_test(reads_the_smaps_of_this_process),
  };
  return cmocka_run_group_tests_name("isa_aarch64_guard", tests, NULL, NULL);
}
