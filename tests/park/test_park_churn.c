/* SPDX-License-Identifier: MIT */
/*
 * Threads that create and join threads in a loop while the main thread
 * stops the world again and again: after each stop every thread listed in
 * /proc/self/task is parked; none escapes.
 */
#include "hp_test.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "park.h"
#include "park_util.h"

#define CREATORS 4

static atomic_int quit;
static atomic_ulong created;

static void *child(void *v) {
  volatile unsigned long x = 0;
  for (int i = 0; i < 1000; i++)
    x += (unsigned long)i;
  (void)x;
  return v;
}

static void *creator(void *v) {
  (void)v;
  while (!atomic_load(&quit)) {
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
      t[i] = pu_spawn(child, NULL);
    for (int i = 0; i < 4; i++)
      pthread_join(t[i], NULL);
    atomic_fetch_add(&created, 4);
  }
  return NULL;
}

static int is_in(pid_t tid, const pid_t *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (v[i] == tid)
      return 1;
  return 0;
}

static void threads_created_during_stops_never_escape(void **state) {
  (void)state;
  pid_t self = pu_gettid(), before[64], now[1024];
  /* Threads that were there before the test: none natively; under qemu
   * the emulator's own, which the stop skips (park.c). */
  size_t nbefore = pu_tasks(before, 64);
  pthread_t t[CREATORS];
  for (int i = 0; i < CREATORS; i++)
    t[i] = pu_spawn(creator, NULL);
  while (atomic_load(&created) < 8)
    pu_sleep_ms(1);
  int stops = hp_test_rounds("HOTPATCH_CHURN_STOPS", 50, 50, 50);
  int checked = 0, exited = 0, rescans = 0;
  size_t most = 0;
  for (int i = 0; i < stops; i++) {
    struct hp_park p;
    assert_int_equal(pu_stop(&p, 10000), 0);
    /* Raw getdents64: parked threads may hold malloc's lock. */
    size_t n = pu_tasks(now, 1024);
    for (size_t k = 0; k < n; k++) {
      if (now[k] == self || (p.emulated && is_in(now[k], before, nbefore)))
        continue;
      const struct hp_slot *s = pu_slot_of(&p, now[k]);
      char st = '?';
      if (!s && (pu_task_stat(now[k], &st, NULL, NULL, 0) < 0 || st == 'Z' ||
                 st == 'X')) {
        exited++; /* it had ended when the stop met it: never runs again */
        continue;
      }
      if (!s || s->state != HP_SLOT_PARKED)
        fail_msg("stop %d: thread %d (state %c) is not parked (%s)", i,
                 (int)now[k], st,
                 s ? "its slot says otherwise" : "it has no slot");
      checked++;
    }
    most = p.n > most ? p.n : most;
    rescans += p.rescans;
    hp_park_release(&p);
    hp_park_finish(&p);
    pu_sleep_ms(2);
  }
  atomic_store(&quit, 1);
  for (int i = 0; i < CREATORS; i++)
    pthread_join(t[i], NULL);
  printf("park: %d stops, %lu threads created meanwhile, %d thread checks "
         "(%d had exited), at most %zu slots used, %d final passes refuted "
         "by the thread count\n",
         stops, (unsigned long)atomic_load(&created), checked, exited, most,
         rescans);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(threads_created_during_stops_never_escape),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
