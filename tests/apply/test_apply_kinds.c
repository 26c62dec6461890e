/* SPDX-License-Identifier: MIT */
/*
 * hotpatch_apply and hotpatch_revert beside 1, 8, 64 and 256 threads that
 * are busy, blocked in read() on a pipe, in nanosleep() or in
 * epoll_wait(): every action succeeds, and each thread's call completes as
 * docs/safety.md says: read() returns its byte, never EINTR (SA_RESTART);
 * nanosleep() and epoll_wait() return EINTR once per stop (signal(7):
 * never restarted), nothing else. Under qemu-user (HOTPATCH_TEST_UNDER_QEMU
 * =1) one cycle per case, and busy threads up to 64 (see each_count).
 */
#include "hp_test.h"

#include <stdio.h>
#include <stdlib.h>

#include "ap_util.h"
#include "hotpatch.h"
#include "park.h"
#include "park_util.h"
#include "park_workers.h"
#include "targets.h"

static hotpatch_patch *patch;

static void run(enum pu_kind k, int n) {
  /* Busy threads share two CPUs with the patcher, which then gets a
   * 1/(n+1) share for everything it prepares: 256 of them make one cycle
   * take seconds. */
  int cycles = pu_under_qemu() || (k == PU_BUSY && n >= 64) ? 1 : 3;
  struct pu_worker *w = calloc((size_t)n, sizeof *w);
  assert_non_null(w);
  pu_workers_start(w, n, k);
  struct hp_park_counters c0, c1;
  hp_park_counters(&c0);
  uint64_t t0 = ap_now_ms();
  struct hotpatch_opts o = {.timeout_ms = 10000};
  for (int c = 0; c < cycles; c++) {
    pu_workers_wait_blocked(w, n);
    int rc = hotpatch_apply(patch, &o);
    if (rc)
      fail_msg("apply beside %d %s threads: %s", n, pu_kind_name[k],
               hotpatch_last_error());
    assert_int_equal(ap_value(5), 1006);
    pu_workers_wait_calls(w, n, 2 * c + 1);
    pu_workers_wait_blocked(w, n);
    rc = hotpatch_revert(patch, &o);
    if (rc)
      fail_msg("revert beside %d %s threads: %s", n, pu_kind_name[k],
               hotpatch_last_error());
    assert_int_equal(ap_value(5), 6);
    pu_workers_wait_calls(w, n, 2 * c + 2);
  }
  hp_park_counters(&c1);
  int stops = (int)(c1.stops - c0.stops);
  printf("apply: %3d %-10s threads: %d applies and reverts in %llu ms, %d "
         "stops\n",
         n, pu_kind_name[k], cycles, (unsigned long long)(ap_now_ms() - t0),
         stops);
  /* Nobody was inside ap_value: one stop per action. */
  assert_int_equal(stops, 2 * cycles);
  if (k == PU_BUSY)
    pu_workers_wait_running(w, n);
  pu_workers_check_interrupted(w, n, stops);
  pu_workers_end(w, n); /* read: its byte, no EINTR */
  free(w);
}

static void each_count(enum pu_kind k) {
  static const int counts[] = {1, 8, 64, 256};
  /* Under qemu-user 256 busy threads alone took 30 s for one cycle (the
   * patcher's share of two CPUs, emulated): 64 there; the blocking kinds
   * go to 256. */
  int nc = pu_under_qemu() && k == PU_BUSY ? 3 : 4;
  if (nc < 4)
    printf("apply: under qemu: busy threads up to 64, not 256 (one cycle "
           "beside 256 takes ~30 s)\n");
  for (int i = 0; i < nc; i++)
    run(k, counts[i]);
}

static void actions_beside_busy_threads_succeed(void **state) {
  (void)state;
  each_count(PU_BUSY);
}

static void actions_beside_read_leave_no_visible_eintr(void **state) {
  (void)state;
  each_count(PU_READ);
}

static void actions_beside_nanosleep_interrupt_it_once_per_stop(void **st) {
  (void)st;
  each_count(PU_NANOSLEEP);
}

static void actions_beside_epoll_wait_interrupt_it_once_per_stop(void **st) {
  (void)st;
  each_count(PU_EPOLL);
}

int main(void) {
  pu_workers_init();
  patch = ap_register_value_other("kinds");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(actions_beside_busy_threads_succeed),
      cmocka_unit_test(actions_beside_read_leave_no_visible_eintr),
      cmocka_unit_test(actions_beside_nanosleep_interrupt_it_once_per_stop),
      cmocka_unit_test(actions_beside_epoll_wait_interrupt_it_once_per_stop),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  hotpatch_unload(patch);
  return rc;
}
