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

enum kind { BUSY, READ, NANOSLEEP, EPOLL };
static const char *const kind_name[] = {"busy", "read", "nanosleep",
                                        "epoll_wait"};

struct worker {
  pthread_t th;
  atomic_int tid;
  enum kind kind;
  int pipe[2];
  int ep;
  atomic_ulong count;   /* busy: iterations */
  atomic_int calls;     /* blocking: calls returned */
  atomic_int eintr;     /* blocking: calls that returned EINTR */
  atomic_int other;     /* blocking: any other failure */
  atomic_long last_ret; /* read: the last result */
  atomic_int quit;
};

static void *worker_main(void *v) {
  struct worker *w = v;
  atomic_store(&w->tid, pu_gettid());
  while (!atomic_load(&w->quit)) {
    long r = 0;
    if (w->kind == BUSY) {
      atomic_fetch_add_explicit(&w->count, 1, memory_order_relaxed);
      continue;
    }
    errno = 0;
    if (w->kind == READ) {
      char c;
      r = read(w->pipe[0], &c, 1);
      atomic_store(&w->last_ret, r);
    } else if (w->kind == NANOSLEEP) {
      struct timespec ts = {60, 0}, rem;
      r = nanosleep(&ts, &rem);
    } else {
      struct epoll_event ev;
      r = epoll_wait(w->ep, &ev, 1, 60000);
    }
    int e = errno;
    atomic_fetch_add(&w->calls, 1);
    if (r < 0 && e == EINTR)
      atomic_fetch_add(&w->eintr, 1);
    else if (r < 0)
      atomic_fetch_add(&w->other, 1);
    if (w->kind == READ)
      break; /* one read: it must complete with the byte */
  }
  return NULL;
}

static void start(struct worker *w, int n, enum kind k) {
  memset(w, 0, sizeof *w * (size_t)n);
  for (int i = 0; i < n; i++) {
    w[i].kind = k;
    w[i].ep = -1;
    w[i].pipe[0] = w[i].pipe[1] = -1;
    if (k == READ || k == EPOLL)
      assert_int_equal(pipe(w[i].pipe), 0);
    if (k == EPOLL) {
      w[i].ep = epoll_create1(EPOLL_CLOEXEC);
      assert_true(w[i].ep >= 0);
      struct epoll_event ev = {.events = EPOLLIN};
      assert_int_equal(epoll_ctl(w[i].ep, EPOLL_CTL_ADD, w[i].pipe[0], &ev), 0);
    }
    w[i].th = pu_spawn(worker_main, &w[i]);
  }
  for (int i = 0; i < n; i++)
    while (!atomic_load(&w[i].tid))
      pu_sleep_ms(1);
}

/* Blocking kinds: every thread back in its call (state S) before a stop,
 * so that the stop really interrupts the system call. */
static void wait_blocked(struct worker *w, int n) {
  if (w[0].kind == BUSY)
    return;
  for (int i = 0; i < n; i++)
    assert_true(pu_wait_state(atomic_load(&w[i].tid), 'S', 10000));
}

static void check_parked(const struct hp_park *p, struct worker *w, int n) {
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

static void run(enum kind k, int n) {
  int runs = pu_under_qemu() ? 3 : 7;
  struct worker *w = calloc((size_t)n, sizeof *w);
  assert_non_null(w);
  start(w, n, k);
  uint64_t t[8];
  for (int r = 0; r < runs; r++) {
    wait_blocked(w, n);
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
    if (r == 0 && k == BUSY) {
      /* Parked means not running. */
      unsigned long c0[256];
      for (int i = 0; i < n; i++)
        c0[i] = atomic_load(&w[i].count);
      pu_sleep_ms(20);
      for (int i = 0; i < n; i++)
        assert_int_equal(atomic_load(&w[i].count), c0[i]);
    }
    if (k != BUSY) {
      /* Nobody returned from its call while parked. */
      int calls1 = 0;
      for (int i = 0; i < n; i++)
        calls1 += atomic_load(&w[i].calls);
      assert_int_equal(calls1, calls0);
    }
    hp_park_release(&p);
    hp_park_finish(&p);
  }
  printf("park: %3d %-10s threads: stop median %8.1f us over %d stops\n", n,
         kind_name[k], (double)pu_median(t, (size_t)runs) / 1000.0, runs);

  /* They run on, each as its kind should. */
  if (k == BUSY) {
    unsigned long c0[256];
    for (int i = 0; i < n; i++)
      c0[i] = atomic_load(&w[i].count);
    for (int i = 0; i < n; i++)
      while (atomic_load(&w[i].count) == c0[i])
        pu_sleep_ms(1);
  }
  if (k == NANOSLEEP || k == EPOLL) {
    /* Every stop interrupted them: signal(7) lists both among the calls
     * SA_RESTART does not restart (docs/safety.md). */
    for (int i = 0; i < n; i++) {
      while (atomic_load(&w[i].calls) < runs)
        pu_sleep_ms(1);
      assert_int_equal(atomic_load(&w[i].eintr), atomic_load(&w[i].calls));
      assert_int_equal(atomic_load(&w[i].other), 0);
    }
  }
  for (int i = 0; i < n; i++)
    atomic_store(&w[i].quit, 1);
  for (int i = 0; i < n; i++) {
    if (k == READ || k == EPOLL)
      assert_int_equal(write(w[i].pipe[1], "x", 1), 1);
    if (k == NANOSLEEP)
      pthread_kill(w[i].th, SIGUSR2); /* a no-op handler: EINTR, quit */
    pthread_join(w[i].th, NULL);
    if (k == READ) {
      /* Restarted under SA_RESTART: the stops were invisible. */
      assert_int_equal(atomic_load(&w[i].last_ret), 1);
      assert_int_equal(atomic_load(&w[i].eintr), 0);
      assert_int_equal(atomic_load(&w[i].calls), 1);
    }
    if (w[i].pipe[0] >= 0) {
      close(w[i].pipe[0]);
      close(w[i].pipe[1]);
    }
    if (w[i].ep >= 0)
      close(w[i].ep);
  }
  free(w);
}

static void each_count(enum kind k) {
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
  each_count(BUSY);
}

static void
threads_in_read_park_and_the_read_completes_without_eintr(void **state) {
  (void)state;
  each_count(READ);
}

static void threads_in_nanosleep_park_and_see_eintr(void **state) {
  (void)state;
  each_count(NANOSLEEP);
}

static void threads_in_epoll_wait_park_and_see_eintr(void **state) {
  (void)state;
  each_count(EPOLL);
}

static void on_usr2(int sig) { (void)sig; }

int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr2;
  sigaction(SIGUSR2, &sa, NULL);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(busy_threads_all_park_and_run_on),
      cmocka_unit_test(
          threads_in_read_park_and_the_read_completes_without_eintr),
      cmocka_unit_test(threads_in_nanosleep_park_and_see_eintr),
      cmocka_unit_test(threads_in_epoll_wait_park_and_see_eintr),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
