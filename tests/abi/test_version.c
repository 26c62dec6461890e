/* SPDX-License-Identifier: MIT */
/*
 * version_header_matches_library: the version a program is compiled against
 * (hotpatch.h), the version the library reports at run time, and the
 * project(VERSION) CMake used to name libhotpatch.so.X.Y and write
 * hotpatch.pc / hotpatchConfigVersion.cmake are one and the same.
 * Linked against the shared library, as a program would be.
 */
#include "hp_test.h"

#include <stdio.h>
#include <string.h>

#include <hotpatch.h>

#ifndef HP_PROJECT_VERSION
#error "the build passes HP_PROJECT_VERSION (CMake's PROJECT_VERSION)"
#endif

static void test_version_hex_matches_header(void **state) {
  (void)state;
  assert_int_equal(hotpatch_version(), HOTPATCH_VERSION_HEX);
  assert_int_equal((hotpatch_version() >> 16) & 0xff, HOTPATCH_VERSION_MAJOR);
  assert_int_equal((hotpatch_version() >> 8) & 0xff, HOTPATCH_VERSION_MINOR);
  assert_int_equal(hotpatch_version() & 0xff, HOTPATCH_VERSION_PATCH);
}

static void test_version_string_matches_header(void **state) {
  (void)state;
  char want[32];
  snprintf(want, sizeof want, "%d.%d.%d", HOTPATCH_VERSION_MAJOR,
           HOTPATCH_VERSION_MINOR, HOTPATCH_VERSION_PATCH);
  assert_non_null(hotpatch_version_string());
  assert_string_equal(hotpatch_version_string(), want);
}

static void test_header_matches_cmake_project_version(void **state) {
  (void)state;
  assert_string_equal(hotpatch_version_string(), HP_PROJECT_VERSION);
}

static void test_version_string_is_stable(void **state) {
  (void)state;
  /* Static storage: the same pointer and text every time. */
  const char *a = hotpatch_version_string();
  const char *b = hotpatch_version_string();
  assert_ptr_equal(a, b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_version_hex_matches_header),
      cmocka_unit_test(test_version_string_matches_header),
      cmocka_unit_test(test_header_matches_cmake_project_version),
      cmocka_unit_test(test_version_string_is_stable),
  };
  return cmocka_run_group_tests_name("version_header_matches_library", tests,
                                     NULL, NULL);
}
