/* SPDX-License-Identifier: MIT */
/* Common includes for cmocka tests (cmocka 1.1 needs these first). */
#ifndef HP_TEST_H
#define HP_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>

/* How many rounds a long test runs: $env if set, else `qemu` under
 * qemu-user (HOTPATCH_TEST_UNDER_QEMU=1), `asan` under AddressSanitizer,
 * `native` otherwise. Tests print the count they ran. */
static inline int hp_test_rounds(const char *env, int native, int asan,
                                 int qemu) {
  const char *e = getenv(env);
  if (e && atoi(e) > 0)
    return atoi(e);
  e = getenv("HOTPATCH_TEST_UNDER_QEMU");
  if (e && *e == '1')
    return qemu;
#if defined(__SANITIZE_ADDRESS__)
  (void)native;
  return asan;
#else
  (void)asan;
  return native;
#endif
}

#endif
