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
#include "park_util.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);

static pthread_mutex_t alloc_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int patcher_tid;    /* non-zero between stop and release */
static atomic_int patcher_allocs; /* allocations it made meanwhile */
static _Thread_local int hold_ms; /* this thread sleeps inside the lock */
static atomic_int holding;

static void enter(void) {
  if (atomic_load(&patcher_tid) && atomic_load(&patcher_tid) == pu_gettid())
    atomic_fetch_add(&patcher_allocs, 1);
  pthread_mutex_lock(&alloc_lock);
  if (hold_ms) {
    atomic_store(&holding, 1);
    pu_sleep_ms(hold_ms);
    hold_ms = 0;
    atomic_store(&holding, 2);
  }
}

static void leave(void) { pthread_mutex_unlock(&alloc_lock); }

void *__wrap_malloc(size_t n) {
  enter();
  void *p = __real_malloc(n);
  leave();
  return p;
}

void *__wrap_calloc(size_t n, size_t m) {
  enter();
  void *p = __real_calloc(n, m);
  leave();
  return p;
}

void *__wrap_realloc(void *q, size_t n) {
  enter();
  void *p = __real_realloc(q, n);
  leave();
  return p;
}

void __wrap_free(void *p) {
  enter();
  __real_free(p);
  leave();
}

/* Stop with a 3 s deadline, release, and say how long it took. A
 * deadlock would hang here: alarm() turns that into a failure. */
static pthread_t stop_while_held(const char *what, void *(*fn)(void *),
                                 atomic_int *held) {
  struct hp_park p;
  assert_int_equal(hp_park_prepare(&p), 0);
  pthread_t t = pu_spawn(fn, NULL);
  while (!atomic_load(held))
    pu_sleep_ms(1);
  alarm(20);
  uint64_t t0 = hp_now_ns();
  atomic_store(&patcher_tid, pu_gettid());
  int rc = hp_park_stop(&p, t0 + 3000000000u);
  size_t parked = p.n;
  hp_park_release(&p);
  atomic_store(&patcher_tid, 0);
  uint64_t us = (hp_now_ns() - t0) / 1000u;
  alarm(0);
  printf("park: a thread inside %s: stop and release in %llu us (rc %d, %zu "
         "threads)\n",
         what, (unsigned long long)us, rc, parked);
  /* It parks like any thread: its lock does not matter to the stop. */
  assert_int_equal(rc, 0);
  assert_true(parked >= 1);
  assert_true(us < 2000000);
  assert_int_equal(atomic_load(&patcher_allocs), 0);
  hp_park_finish(&p);
  return t;
}

static void *volatile kept;

static void *malloc_holder(void *v) {
  (void)v;
  hold_ms = 300;
  kept = malloc(64); /* through a volatile: not elided */
  free(kept);
  return NULL;
}

static void a_thread_inside_malloc_does_not_block_the_stop(void **state) {
  (void)state;
  atomic_store(&holding, 0);
  pthread_t t =
      stop_while_held("malloc (holding its lock)", malloc_holder, &holding);
  pthread_join(t, NULL);
  assert_int_equal(atomic_load(&holding), 2);
}

static atomic_int in_ctor;
static int ctor_pipe[2];
static void *dlopen_handle;

static void *opener(void *v) {
  (void)v;
  dlopen_handle = dlopen(PARK_SLOWCTOR_SO, RTLD_NOW | RTLD_LOCAL);
  return NULL;
}

static void *ctor_watch(void *v) {
  (void)v;
  char c;
  while (read(ctor_pipe[0], &c, 1) == 1)
    if (c == '1')
      atomic_store(&in_ctor, 1);
    else if (c == '2')
      atomic_store(&in_ctor, 2);
  return NULL;
}

static void a_thread_inside_dlopen_does_not_block_the_stop(void **state) {
  (void)state;
  assert_int_equal(pipe2(ctor_pipe, O_CLOEXEC), 0);
  char fd[16];
  snprintf(fd, sizeof fd, "%d", ctor_pipe[1]);
  setenv("PARK_CTOR_FD", fd, 1);
  pthread_t w = pu_spawn(ctor_watch, NULL);
  pthread_t t = stop_while_held("dlopen (a constructor sleeping 300 ms)",
                                opener, &in_ctor);
  pthread_join(t, NULL);
  assert_non_null(dlopen_handle);
  int (*fn)(void) = (int (*)(void))dlsym(dlopen_handle, "park_slowctor_value");
  assert_non_null(fn);
  assert_int_equal(fn(), 42);
  close(ctor_pipe[1]);
  pthread_join(w, NULL);
  assert_int_equal(atomic_load(&in_ctor), 2);
  close(ctor_pipe[0]);
  dlclose(dlopen_handle);
}

static atomic_int in_phdr;

static int phdr_cb(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)info;
  (void)size;
  (void)arg;
  atomic_store(&in_phdr, 1);
  pu_sleep_ms(300);
  return 1;
}

static void *iterator(void *v) {
  (void)v;
  dl_iterate_phdr(phdr_cb, NULL);
  atomic_store(&in_phdr, 2);
  return NULL;
}

static void
a_thread_inside_dl_iterate_phdr_does_not_block_the_stop(void **state) {
  (void)state;
  pthread_t t = stop_while_held("dl_iterate_phdr (a callback sleeping 300 ms)",
                                iterator, &in_phdr);
  pthread_join(t, NULL);
  assert_int_equal(atomic_load(&in_phdr), 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_thread_inside_malloc_does_not_block_the_stop),
      cmocka_unit_test(a_thread_inside_dlopen_does_not_block_the_stop),
      cmocka_unit_test(a_thread_inside_dl_iterate_phdr_does_not_block_the_stop),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
