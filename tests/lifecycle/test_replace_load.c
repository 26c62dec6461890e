/* SPDX-License-Identifier: MIT */
/*
 * A replace under load (issue 6): 8 threads call the chain lc_ga -> lc_gb
 * -> lc_gc in tight loops while three stacked patches (generations 1, 2,
 * 3, each replacing all three functions) are applied one by one and then
 * replaced at once by a cumulative patch (generation 9), which is then
 * reverted; and again. Each call's result names the generation that ran
 * at each level (lc_gen.c): it must be one generation throughout — 0, 1,
 * 2, 3 or 9 at every level — never a mix within one call chain.
 * Cycles: HOTPATCH_REPLACE_CYCLES, default 100 natively, 30 under the
 * sanitizers, 10 under qemu (HOTPATCH_TEST_UNDER_QEMU=1).
 *
 * The test can fail: with the safe-point check taken out of the engine
 * (every parked thread deemed safe) it reports mixed results such as
 * 10100 or 90902 within ten cycles.
 */
#include "hp_test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "hotpatch.h"
#include "hp_maps.h"

#define NTHREADS 8
#define LC_TARGET __attribute__((noinline, noipa, used))

LC_TARGET void lc_spin(int n) {
  for (volatile int i = 0; i < n; i++)
    ;
}

/* Generation 0: the original chain; each level spins before it calls the
 * next, as the generations in lc_gen.c do. */
LC_TARGET long lc_gc(long x) {
  lc_spin(100);
  return 0 * x;
}
LC_TARGET long lc_gb(long x) {
  lc_spin(100);
  return lc_gc(x);
}
LC_TARGET long lc_ga(long x) {
  lc_spin(100);
  return lc_gb(x);
}

static atomic_int stop;
static long calls[NTHREADS];
static atomic_long seen[10]; /* results per generation */

static int consistent(long v) {
  long a = v / 10000, b = v / 100 % 100, c = v % 100;
  return v >= 0 && a == b && b == c && (a <= 3 || a == 9);
}

static void *caller(void *arg) {
  long id = (long)(intptr_t)arg, bad = 0, n = 0;
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    long v = lc_ga(n++);
    if (!consistent(v)) {
      if (!bad)
        fprintf(stderr, "thread %ld: mixed result %ld\n", id, v);
      bad++;
    } else {
      atomic_fetch_add_explicit(&seen[v % 100], 1, memory_order_relaxed);
    }
    /* Outside the chain most of the time: all eight are out of it at once
     * often enough for a switch (EBUSY otherwise, which is correct). */
    lc_spin(600);
  }
  calls[id] = n;
  return (void *)bad;
}

static int cycles(void) {
  return hp_test_rounds("HOTPATCH_REPLACE_CYCLES", 100, 30, 10);
}

/* Retry an action that a caller inside the chain made EBUSY; count. */
static int busy;
static void act(int (*fn)(hotpatch_patch *, const struct hotpatch_opts *),
                hotpatch_patch *p, const char *what) {
  int rc;
  while ((rc = fn(p, NULL)) == HOTPATCH_EBUSY)
    busy++;
  if (rc)
    fail_msg("%s %s: %s: %s", what, hotpatch_name(p), hotpatch_err_name(rc),
             hotpatch_last_error());
}

static void replace_under_load_is_one_generation_per_call(void **state) {
  (void)state;
  hotpatch_patch *g[3], *r;
  static const char *const paths[] = {
      LC_DIR "/lc_gen1.so", LC_DIR "/lc_gen2.so", LC_DIR "/lc_gen3.so"};
  for (int i = 0; i < 3; i++)
    assert_int_equal(hotpatch_load(paths[i], &g[i]), 0);
  assert_int_equal(hotpatch_load(LC_DIR "/lc_gen9.so", &r), 0);
  pthread_t t[NTHREADS];
  for (long i = 0; i < NTHREADS; i++)
    assert_int_equal(pthread_create(&t[i], NULL, caller, (void *)(intptr_t)i),
                     0);
  int n = cycles();
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int k = 0; k < n; k++) {
    for (int i = 0; i < 3; i++)
      act(hotpatch_apply, g[i], "apply");
    act(hotpatch_replace, r, "replace");
    struct hotpatch_status st;
    assert_int_equal(hotpatch_status(g[0], &st), 0);
    assert_string_equal(st.replaced_by, "GEN9");
    act(hotpatch_revert, r, "revert");
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  atomic_store(&stop, 1);
  long bad = 0, total = 0;
  for (int i = 0; i < NTHREADS; i++) {
    void *b;
    pthread_join(t[i], &b);
    bad += (long)b;
    total += calls[i];
  }
  double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  fprintf(stderr,
          "replace under load: %d cycles (%d transitions) in %.1f s, %d "
          "EBUSY retries; %ld calls by %d threads: gen0 %ld, gen1 %ld, gen2 "
          "%ld, gen3 %ld, gen9 %ld; %ld mixed\n",
          n, 5 * n, s, busy, total, NTHREADS, (long)seen[0], (long)seen[1],
          (long)seen[2], (long)seen[3], (long)seen[9], bad);
  assert_int_equal(bad, 0);
  /* The callers ran through both sides of the replace. */
  assert_true(seen[3] > 0 && seen[9] > 0);
  assert_int_equal(lc_ga(0), 0);
  for (int i = 0; i < 3; i++)
    assert_int_equal(hotpatch_unload(g[i]), 0);
  assert_int_equal(hotpatch_unload(r), 0);
  assert_int_equal(hp_test_count_rwx(), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(replace_under_load_is_one_generation_per_call),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
