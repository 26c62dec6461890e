/* SPDX-License-Identifier: MIT */
/*
 * A thread parked while it holds a lock the patcher could want: inside
 * malloc, inside dlopen (a constructor that sleeps), inside
 * dl_iterate_phdr (a callback that sleeps). The stop and the release must
 * complete without touching those locks: no deadlock, bounded time.
 *
 * malloc: this binary is linked with --wrap=malloc,calloc,realloc,free, so
 * every allocation of the library (libhotpatch.a) and of the test goes
 * through one lock, which the holder keeps for 300 ms. An allocation by
 * the patcher between stop and release would block on it behind a parked
 * thread; it is also counted.
 */
#include "hp_test.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "park.h"
#include "park_holders.h"
#include "park_util.h"

/* Stop with a 3 s deadline, release, and say how long it took. A
 * deadlock would hang here: alarm() turns that into a failure. */
static void stop_while_held(const struct pu_holder *h) {
  struct hp_park p;
  assert_int_equal(hp_park_prepare(&p), 0);
  pthread_t t = pu_holder_start(h);
  alarm(20);
  uint64_t t0 = hp_now_ns();
  pu_alloc_watch(pu_gettid());
  int rc = hp_park_stop(&p, t0 + 3000000000u);
  size_t parked = p.n;
  hp_park_release(&p);
  int allocs = pu_alloc_watched();
  pu_alloc_watch(0);
  uint64_t us = (hp_now_ns() - t0) / 1000u;
  alarm(0);
  printf("park: a thread inside %s: stop and release in %llu us (rc %d, %zu "
         "threads)\n",
         h->what, (unsigned long long)us, rc, parked);
  /* It parks like any thread: its lock does not matter to the stop. */
  assert_int_equal(rc, 0);
  assert_true(parked >= 1);
  assert_true(us < 2000000);
  assert_int_equal(allocs, 0);
  hp_park_finish(&p);
  pu_holder_join(h, t);
}

static void a_thread_inside_malloc_does_not_block_the_stop(void **state) {
  (void)state;
  stop_while_held(&pu_hold_malloc);
}

static void a_thread_inside_dlopen_does_not_block_the_stop(void **state) {
  (void)state;
  stop_while_held(&pu_hold_dlopen);
}

static void
a_thread_inside_dl_iterate_phdr_does_not_block_the_stop(void **state) {
  (void)state;
  stop_while_held(&pu_hold_phdr);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_thread_inside_malloc_does_not_block_the_stop),
      cmocka_unit_test(a_thread_inside_dlopen_does_not_block_the_stop),
      cmocka_unit_test(a_thread_inside_dl_iterate_phdr_does_not_block_the_stop),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
