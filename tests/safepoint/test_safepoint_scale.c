/* SPDX-License-Identifier: MIT */
/*
 * Big stacks and many threads: a 64 MiB stack is scanned from SP only, a
 * stack used deeper than HP_SCAN_MAX is refused, 64 threads are all
 * scanned (the last one decides), and what the check costs for them.
 */
#include "hp_test.h"

#include <stdio.h>
#include <stdlib.h>

#include "sp_fixtures.h"

static struct sp_world world;

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void large_stack_is_scanned_from_sp(void **st) {
  struct sp_worker w = {.run = fx_sleep_in_f, .stack_size = 64u << 20};
  struct sp_worker *one[1] = {&w};
  const struct hp_slot *who;
  const struct hp_hot *why;
  const char *reason;
  sp_start(&w);
  sp_park(&world, one, 1);
  fprintf(stderr,
          "  stack [%#lx, %#lx) (%lu MiB), sp %lu bytes below its top\n",
          (unsigned long)w.stack_lo, (unsigned long)w.stack_hi,
          (unsigned long)((w.stack_hi - w.stack_lo) >> 20),
          (unsigned long)(w.stack_hi - world.slot[0].sp));
  assert_true(w.stack_hi - w.stack_lo >= (64u << 20));
  struct hp_hot f = SP_FX_HOT(sleep_in_f, 0);
  struct hp_hot other = SP_FX_HOT(elsewhere, 0);
  uint64_t t0 = sp_now_ns();
  assert_int_equal(sp_check(&world, &f, 1, &who, &why, &reason),
                   HOTPATCH_EBUSY);
  uint64_t t1 = sp_now_ns();
  assert_ptr_equal(why, &f);
  assert_string_equal(reason, HP_SP_STACK);
  assert_int_equal(sp_check(&world, &other, 1, &who, &why, &reason), 0);
  uint64_t t2 = sp_now_ns();
  fprintf(stderr, "  prepare+check+finish: %.1f us unsafe, %.1f us safe\n",
          (t1 - t0) / 1e3, (t2 - t1) / 1e3);
  sp_unpark(&world);
  sp_finish(&w);
}

static void stack_used_deeper_than_scan_max_is_unsafe(void **st) {
  struct sp_worker w = {.run = fx_deep,
                        .stack_size = HP_SCAN_MAX + (16u << 20),
                        .arg = (void *)(uintptr_t)(HP_SCAN_MAX + (1u << 20))};
  struct sp_worker *one[1] = {&w};
  const struct hp_slot *who;
  const struct hp_hot *why;
  const char *reason;
  sp_start(&w);
  sp_park(&world, one, 1);
  fprintf(stderr, "  sp %lu MiB below the stack's top\n",
          (unsigned long)((w.stack_hi - world.slot[0].sp) >> 20));
  struct hp_hot other = SP_FX_HOT(elsewhere, 0);
  assert_int_equal(sp_check(&world, &other, 1, &who, &why, &reason),
                   HOTPATCH_EBUSY);
  assert_ptr_equal(who, &world.slot[0]);
  assert_null(why);
  assert_string_equal(reason, HP_SP_TOO_LARGE);
  sp_unpark(&world);
  sp_finish(&w);
}

#define NT 64

static void sixty_four_threads_are_all_scanned(void **st) {
  static struct sp_worker w[NT];
  static struct sp_worker *all[NT];
  const struct hp_slot *who;
  const struct hp_hot *why;
  const char *reason;
  for (int i = 0; i < NT; i++) {
    w[i] = (struct sp_worker){.run = i == NT - 1 ? fx_outer : fx_sleep_in_f};
    all[i] = &w[i];
    sp_start(&w[i]);
  }
  sp_park(&world, all, NT);
  struct hp_hot outer = SP_FX_HOT(outer, 0);
  struct hp_hot other = SP_FX_HOT(elsewhere, 0);
  assert_int_equal(sp_check(&world, &outer, 1, &who, &why, &reason),
                   HOTPATCH_EBUSY);
  assert_ptr_equal(who, &world.slot[NT - 1]);
  assert_ptr_equal(why, &outer);
  assert_string_equal(reason, HP_SP_STACK);

  /* Time the check alone, as the patcher runs it while parked. */
  struct hp_safepoint sp;
  enum { RUNS = 31 };
  uint64_t t[RUNS];
  assert_int_equal(hp_safepoint_prepare(&sp, &other, 1), 0);
  for (int r = 0; r < RUNS; r++) {
    uint64_t t0 = sp_now_ns();
    int rc = hp_safepoint_check(&sp, &world.park, &who, &why, &reason);
    t[r] = sp_now_ns() - t0;
    assert_int_equal(rc, 0);
  }
  size_t scanned = 0;
  for (int i = 0; i < NT; i++)
    scanned += w[i].stack_hi - world.slot[i].sp;
  hp_safepoint_finish(&sp);
  qsort(t, RUNS, sizeof t[0], cmp_u64);
  fprintf(stderr,
          "  check of %d parked threads (~%zu KiB of stack to their "
          "pthread tops): min %.1f us, median %.1f us, max %.1f us\n",
          NT, scanned >> 10, t[0] / 1e3, t[RUNS / 2] / 1e3, t[RUNS - 1] / 1e3);
  sp_unpark(&world);
  for (int i = 0; i < NT; i++)
    sp_finish(&w[i]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(large_stack_is_scanned_from_sp),
      cmocka_unit_test(stack_used_deeper_than_scan_max_is_unsafe),
      cmocka_unit_test(sixty_four_threads_are_all_scanned),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
