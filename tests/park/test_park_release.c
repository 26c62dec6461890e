/* SPDX-License-Identifier: MIT */
/*
 * What a release promises: every parked thread runs the serialising
 * instruction exactly once per stop on its way out (pitfalls §3: each
 * released thread serialises before it runs patched code), and none runs
 * before p->t_release_ns, the end of the pause the library reports.
 *
 * Each worker stamps CLOCK_MONOTONIC in a loop and remembers its gaps:
 * the gap that spans a stop ends with its first stamp after the release.
 */
#include "hp_test.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "park.h"
#include "park_util.h"

#define NWORKERS 8
#define GAP_NS 3000000ull /* far above a loop turn, far below a stop */
#define NGAPS 64
#define STOPS 10

struct stamper {
  pthread_t th;
  atomic_int tid;
  atomic_int quit;
  atomic_ulong serialised; /* hp_park_serialised_self(), as last seen */
  atomic_uint ngaps;
  _Atomic uint64_t gap_from[NGAPS], gap_to[NGAPS];
};

static void *stamper_main(void *v) {
  struct stamper *w = v;
  atomic_store(&w->tid, pu_gettid());
  uint64_t prev = hp_now_ns();
  while (!atomic_load_explicit(&w->quit, memory_order_relaxed)) {
    uint64_t t = hp_now_ns();
    if (t - prev > GAP_NS) {
      unsigned i = atomic_load(&w->ngaps) % NGAPS;
      atomic_store(&w->gap_from[i], prev);
      atomic_store(&w->gap_to[i], t);
      atomic_fetch_add(&w->ngaps, 1);
    }
    prev = t;
    atomic_store_explicit(&w->serialised, hp_park_serialised_self(),
                          memory_order_relaxed);
  }
  return NULL;
}

/* The end of the last gap of `w` that overlaps [from, to), or 0. */
static uint64_t gap_end(struct stamper *w, uint64_t from, uint64_t to) {
  uint64_t end = 0;
  unsigned n = atomic_load(&w->ngaps);
  for (unsigned k = n > NGAPS ? n - NGAPS : 0; k < n; k++) {
    uint64_t f = atomic_load(&w->gap_from[k % NGAPS]);
    uint64_t t = atomic_load(&w->gap_to[k % NGAPS]);
    if (f < to && t > from && t > end)
      end = t;
  }
  return end;
}

static void
released_threads_serialise_once_per_stop_and_run_after_the_pause(void **st) {
  (void)st;
  static struct stamper w[NWORKERS];
  memset(w, 0, sizeof w);
  for (int i = 0; i < NWORKERS; i++)
    w[i].th = pu_spawn(stamper_main, &w[i]);
  for (int i = 0; i < NWORKERS; i++)
    while (!atomic_load(&w[i].tid))
      pu_sleep_ms(1);
  int early = 0;
  uint64_t worst_ns = 0;
  for (int r = 1; r <= STOPS; r++) {
    struct hp_park_counters c0, c1;
    hp_park_counters(&c0);
    struct hp_park p;
    assert_int_equal(pu_stop(&p, 10000), 0);
    size_t parked = p.n;
    assert_true(parked >= NWORKERS);
    pu_sleep_ms(20); /* a pause no worker can mistake for a loop turn */
    hp_park_release(&p);
    uint64_t t_stop = p.t_stop_ns, t_rel = p.t_release_ns;
    assert_true(t_rel > t_stop);
    /* Each worker comes out, having serialised once more. */
    for (int i = 0; i < NWORKERS; i++) {
      for (int k = 0; k < 5000 && atomic_load(&w[i].serialised) < (unsigned)r;
           k++)
        pu_sleep_ms(1);
      assert_int_equal(atomic_load(&w[i].serialised), r);
    }
    pu_sleep_ms(5); /* every gap spanning the stop has ended */
    for (int i = 0; i < NWORKERS; i++) {
      uint64_t end = gap_end(&w[i], t_stop, t_rel);
      assert_true(end != 0); /* it was parked: it did not stamp meanwhile */
      if (end < t_rel) {
        early++;
        if (t_rel - end > worst_ns)
          worst_ns = t_rel - end;
      }
    }
    hp_park_counters(&c1);
    /* Every thread that parked serialised, once (counted when it left). */
    assert_int_equal(c1.parked - c0.parked, parked);
    assert_int_equal(c1.serialised - c0.serialised, parked);
    assert_int_equal(c1.stops - c0.stops, 1);
    hp_park_finish(&p);
  }
  printf("park: %d stops of %d threads: each serialised once per stop; %d "
         "ran before the reported release (worst %.1f us early)\n",
         STOPS, NWORKERS, early, worst_ns / 1e3);
  assert_int_equal(early, 0);
  for (int i = 0; i < NWORKERS; i++)
    atomic_store(&w[i].quit, 1);
  for (int i = 0; i < NWORKERS; i++)
    pthread_join(w[i].th, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(
          released_threads_serialise_once_per_stop_and_run_after_the_pause),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
