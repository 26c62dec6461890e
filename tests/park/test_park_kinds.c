/* SPDX-License-Identifier: MIT */
/*
 * Parking 1, 8, 64 and 256 threads (1, 8 and 64 under qemu) that are busy,
 * blocked in read(), in nanosleep() or in epoll_wait(): every one parks
 * with its tid, and runs on normally after the release. Prints the median
 * stop time of several stops per case.
 */
#include "hp_test.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "park.h"
#include "park_util.h"
#include "park_workers.h"

static void check_parked(const struct hp_park *p, struct pu_worker *w, int n) {
  assert_true(p->n >= (size_t)n);
  for (size_t i = 0; i < p->n; i++)
    assert_int_equal(p->slot[i].state, HP_SLOT_PARKED);
  for (int i = 0; i < n; i++) {
    const struct hp_slot *s = pu_slot_of(p, atomic_load(&w[i].tid));
    assert_non_null(s);
    assert_int_equal(s->state, HP_SLOT_PARKED);
    assert_int_equal(s->tid, atomic_load(&w[i].tid));
    assert_non_null(s->uc);
    assert_int_equal(s->cooperative, 0);
    assert_int_equal(s->on_altstack, 0);
    assert_true(s->pc != 0 && s->sp != 0);
  }
}

static void run(enum pu_kind k, int n) {
  int runs = pu_under_qemu() ? 3 : 7;
  struct pu_worker *w = calloc((size_t)n, sizeof *w);
  assert_non_null(w);
  pu_workers_start(w, n, k);
  uint64_t t[8];
  for (int r = 0; r < runs; r++) {
    pu_workers_wait_blocked(w, n);
    int calls0 = 0;
    for (int i = 0; i < n; i++)
      calls0 += atomic_load(&w[i].calls);
    struct hp_park p;
    assert_int_equal(hp_park_prepare(&p), 0);
    int rc = hp_park_stop(&p, hp_now_ns() + 20000000000ull);
    uint64_t stopped = hp_now_ns();
    assert_int_equal(rc, 0);
    t[r] = stopped - p.t_stop_ns;
    check_parked(&p, w, n);
    if (r == 0 && k == PU_BUSY) {
      /* Parked means not running. */
      unsigned long c0[256];
      for (int i = 0; i < n; i++)
        c0[i] = atomic_load(&w[i].count);
      pu_sleep_ms(20);
      for (int i = 0; i < n; i++)
        assert_int_equal(atomic_load(&w[i].count), c0[i]);
    }
    if (k != PU_BUSY) {
      /* Nobody returned from its call while parked. */
      int calls1 = 0;
      for (int i = 0; i < n; i++)
        calls1 += atomic_load(&w[i].calls);
      assert_int_equal(calls1, calls0);
    }
    hp_park_release(&p);
    hp_park_finish(&p);
    pu_workers_wait_calls(w, n, r + 1);
  }
  printf("park: %3d %-10s threads: stop median %8.1f us over %d stops\n", n,
         pu_kind_name[k], (double)pu_median(t, (size_t)runs) / 1000.0, runs);

  /* They run on, each as its kind should. */
  if (k == PU_BUSY)
    pu_workers_wait_running(w, n);
  pu_workers_check_interrupted(w, n, runs);
  pu_workers_end(w, n);
  free(w);
}

static void each_count(enum pu_kind k) {
  static const int native[] = {1, 8, 64, 256}, qemu[] = {1, 8, 64};
  const int *c = pu_under_qemu() ? qemu : native;
  int nc = pu_under_qemu() ? 3 : 4;
  if (pu_under_qemu())
    printf("park: under qemu: 1, 8 and 64 threads, 3 stops each\n");
  for (int i = 0; i < nc; i++)
    run(k, c[i]);
}

static void busy_threads_all_park_and_run_on(void **state) {
  (void)state;
  each_count(PU_BUSY);
}

static void
threads_in_read_park_and_the_read_completes_without_eintr(void **state) {
  (void)state;
  each_count(PU_READ);
}

static void threads_in_nanosleep_park_and_see_eintr(void **state) {
  (void)state;
  each_count(PU_NANOSLEEP);
}

static void threads_in_epoll_wait_park_and_see_eintr(void **state) {
  (void)state;
  each_count(PU_EPOLL);
}

int main(void) {
  pu_workers_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(busy_threads_all_park_and_run_on),
      cmocka_unit_test(
          threads_in_read_park_and_the_read_completes_without_eintr),
      cmocka_unit_test(threads_in_nanosleep_park_and_see_eintr),
      cmocka_unit_test(threads_in_epoll_wait_park_and_see_eintr),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
