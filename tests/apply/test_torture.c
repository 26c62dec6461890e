/* SPDX-License-Identifier: MIT */
/*
 * Torture: 8 threads call two patched functions in tight loops while the
 * main thread applies and reverts the patch thousands of times. Every call
 * must return the old or the new result — never anything else, never a
 * crash. Cycles: HOTPATCH_TORTURE_CYCLES, default 10000 natively, 2000
 * under sanitizers, 300 under qemu (HOTPATCH_TEST_UNDER_QEMU=1).
 */
#include "hp_test.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "hotpatch.h"
#include "targets.h"

#define NTHREADS 8

static long (*old_value)(long);
static long new_value(long x) { return old_value(x) + 1000; }
static long new_other(long x) { return x * 3 + 2000; }

static volatile int stop;
static long calls[NTHREADS];

static void *caller(void *arg) {
  long id = (long)(intptr_t)arg, bad = 0, n = 0;
  /* Each thread spends a few percent of its time in the patched
   * functions: all eight are outside them at once often enough for the
   * switch to happen (a thread that never leaves them is never at a safe
   * point: EBUSY, tested in apply_patches). */
  while (!stop) {
    long x = n++ & 0xffff;
    long v = ap_value(x), w = ap_other(x);
    bad += (v != x + 1 && v != x + 1001) + (w != 3 * x && w != 3 * x + 2000);
    for (volatile int i = 0; i < 300; i++)
      ;
  }
  calls[id] = n;
  return (void *)bad;
}

static int cycles(void) {
  const char *e = getenv("HOTPATCH_TORTURE_CYCLES");
  if (e && atoi(e) > 0)
    return atoi(e);
  e = getenv("HOTPATCH_TEST_UNDER_QEMU");
  if (e && *e == '1')
    return 300;
#if defined(__SANITIZE_ADDRESS__)
  return 2000;
#else
  return 10000;
#endif
}

static void calls_see_old_or_new_while_patch_flips(void **state) {
  (void)state;
  static const struct hotpatch_func funcs[] = {
      {.target = "ap_value",
       .replacement = (void *)new_value,
       .original = (void **)&old_value},
      {.target = "ap_other", .replacement = (void *)new_other},
      {0}};
  static const struct hotpatch_desc d = {.magic = HOTPATCH_MAGIC,
                                         .abi = HOTPATCH_ABI,
                                         .name = "torture",
                                         .flags = HOTPATCH_REAPPLYABLE,
                                         .funcs = funcs};
  hotpatch_patch *p;
  assert_int_equal(hotpatch_register(&d, &p), 0);
  pthread_t t[NTHREADS];
  for (long i = 0; i < NTHREADS; i++)
    assert_int_equal(pthread_create(&t[i], NULL, caller, (void *)(intptr_t)i),
                     0);
  int n = cycles(), busy = 0;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int k = 0; k < n; k++) {
    /* A caller may be inside a function at every try: EBUSY is a correct
     * answer then (nothing changed); count it, go on. */
    int rc = hotpatch_apply(p, NULL);
    if (rc == HOTPATCH_EBUSY) {
      busy++;
      continue;
    }
    if (rc)
      fail_msg("apply %d: %s", k, hotpatch_last_error());
    for (int tries = 0;
         (rc = hotpatch_revert(p, NULL)) == HOTPATCH_EBUSY && tries < 20;
         tries++)
      busy++;
    if (rc)
      fail_msg("revert %d: %s", k, hotpatch_last_error());
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  stop = 1;
  long bad = 0, total = 0;
  for (int i = 0; i < NTHREADS; i++) {
    void *b;
    pthread_join(t[i], &b);
    bad += (long)b;
    total += calls[i];
  }
  double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  fprintf(stderr,
          "torture: %d apply/revert cycles in %.1f s (%d EBUSY), %ld calls "
          "by %d threads, %ld wrong results\n",
          n, s, busy, total, NTHREADS, bad);
  assert_int_equal(bad, 0);
  assert_true(busy < n); /* most cycles must go through */
  assert_int_equal(ap_value(1), 2);
  assert_int_equal(hotpatch_unload(p), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(calls_see_old_or_new_while_patch_flips),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
