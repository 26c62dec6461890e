/* SPDX-License-Identifier: MIT */
#include "hp_test.h"

#include "park_workers.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "park_util.h"

const char *const pu_kind_name[4] = {"busy", "read", "nanosleep", "epoll_wait"};

static void *pu_worker_main(void *v) {
  struct pu_worker *w = v;
  atomic_store(&w->tid, pu_gettid());
  while (!atomic_load(&w->quit)) {
    long r = 0;
    if (w->kind == PU_BUSY) {
      atomic_fetch_add_explicit(&w->count, 1, memory_order_relaxed);
      continue;
    }
    errno = 0;
    if (w->kind == PU_READ) {
      char c;
      r = read(w->pipe[0], &c, 1);
      atomic_store(&w->last_ret, r);
    } else if (w->kind == PU_NANOSLEEP) {
      struct timespec ts = {60, 0}, rem;
      r = nanosleep(&ts, &rem);
    } else {
      struct epoll_event ev;
      r = epoll_wait(w->ep, &ev, 1, 60000);
    }
    int e = errno;
    if (r < 0 && e == EINTR)
      atomic_fetch_add(&w->eintr, 1);
    else if (r < 0)
      atomic_fetch_add(&w->other, 1);
    /* Last: the main thread waits for calls, then reads eintr and other
     * (seq_cst: it sees them once it sees this). */
    atomic_fetch_add(&w->calls, 1);
    if (w->kind == PU_READ)
      break; /* one read: it must complete with the byte */
  }
  return NULL;
}

void pu_workers_start(struct pu_worker *w, int n, enum pu_kind k) {
  memset(w, 0, sizeof *w * (size_t)n);
  for (int i = 0; i < n; i++) {
    w[i].kind = k;
    w[i].ep = -1;
    w[i].pipe[0] = w[i].pipe[1] = -1;
    if (k == PU_READ || k == PU_EPOLL)
      assert_int_equal(pipe(w[i].pipe), 0);
    if (k == PU_EPOLL) {
      w[i].ep = epoll_create1(EPOLL_CLOEXEC);
      assert_true(w[i].ep >= 0);
      struct epoll_event ev = {.events = EPOLLIN};
      assert_int_equal(epoll_ctl(w[i].ep, EPOLL_CTL_ADD, w[i].pipe[0], &ev), 0);
    }
    w[i].th = pu_spawn(pu_worker_main, &w[i]);
  }
  for (int i = 0; i < n; i++)
    while (!atomic_load(&w[i].tid))
      pu_sleep_ms(1);
}

void pu_workers_wait_blocked(struct pu_worker *w, int n) {
  if (w[0].kind == PU_BUSY)
    return;
  for (int i = 0; i < n; i++)
    assert_true(pu_wait_state(atomic_load(&w[i].tid), 'S', 10000));
}

void pu_workers_wait_running(struct pu_worker *w, int n) {
  unsigned long c0[256];
  for (int i = 0; i < n && i < 256; i++)
    c0[i] = atomic_load(&w[i].count);
  for (int i = 0; i < n && i < 256; i++)
    while (atomic_load(&w[i].count) == c0[i])
      pu_sleep_ms(1);
}

void pu_workers_wait_calls(struct pu_worker *w, int n, int calls) {
  if (w[0].kind != PU_NANOSLEEP && w[0].kind != PU_EPOLL)
    return;
  for (int i = 0; i < n; i++)
    for (int k = 0; k < 10000 && atomic_load(&w[i].calls) < calls; k++)
      pu_sleep_ms(1);
}

void pu_workers_check_interrupted(struct pu_worker *w, int n, int stops) {
  if (w[0].kind != PU_NANOSLEEP && w[0].kind != PU_EPOLL)
    return;
  pu_workers_wait_calls(w, n, stops);
  for (int i = 0; i < n; i++) {
    assert_int_equal(atomic_load(&w[i].calls), stops);
    assert_int_equal(atomic_load(&w[i].eintr), stops);
    assert_int_equal(atomic_load(&w[i].other), 0);
  }
}

static void pu_on_usr2(int sig) { (void)sig; }

void pu_workers_init(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = pu_on_usr2;
  sigaction(SIGUSR2, &sa, NULL);
}

void pu_workers_end(struct pu_worker *w, int n) {
  for (int i = 0; i < n; i++)
    atomic_store(&w[i].quit, 1);
  for (int i = 0; i < n; i++) {
    if (w[i].kind == PU_READ || w[i].kind == PU_EPOLL)
      assert_int_equal(write(w[i].pipe[1], "x", 1), 1);
    if (w[i].kind == PU_NANOSLEEP)
      pthread_kill(w[i].th, SIGUSR2); /* a no-op handler: EINTR, quit */
    pthread_join(w[i].th, NULL);
    if (w[i].kind == PU_READ) {
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
}
