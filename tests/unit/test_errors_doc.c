/* SPDX-License-Identifier: MIT */
/* docs/errors.md must list every code of HOTPATCH_ERRNO_MAP with its value
 * and text, so the page cannot drift from the header. */
#include "hp_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hotpatch.h"

static char *read_all(const char *path) {
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  static char buf[1 << 16];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static void errors_page_lists_every_code(void **state) {
  (void)state;
  const char *doc = read_all(HP_ERRORS_MD);
  char row[512];
#define HP_ROW_(name, value, msg)                                              \
  snprintf(row, sizeof row, "| `HOTPATCH_" #name "` | %d | %s |", value, msg); \
  if (!strstr(doc, row))                                                       \
    fail_msg("docs/errors.md has no row starting '%s'", row);
  HOTPATCH_ERRNO_MAP(HP_ROW_)
#undef HP_ROW_
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(errors_page_lists_every_code),
  };
  return cmocka_run_group_tests_name("unit_errors_doc", tests, NULL, NULL);
}
