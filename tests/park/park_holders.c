/* SPDX-License-Identifier: MIT */
#include "hp_test.h"

#include "park_holders.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "park_util.h"

/* --- malloc, through one lock ------------------------------------------ */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);

static pthread_mutex_t pu_alloc_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int pu_watch_tid, pu_watch_allocs;
static _Thread_local int pu_hold_ms; /* this thread sleeps inside the lock */
static atomic_int pu_malloc_state;

void pu_alloc_watch(pid_t tid) {
  atomic_store(&pu_watch_allocs, 0);
  atomic_store(&pu_watch_tid, (int)tid);
}

int pu_alloc_watched(void) { return atomic_load(&pu_watch_allocs); }

static void pu_enter(void) {
  if (atomic_load(&pu_watch_tid) && atomic_load(&pu_watch_tid) == pu_gettid())
    atomic_fetch_add(&pu_watch_allocs, 1);
  pthread_mutex_lock(&pu_alloc_lock);
  if (pu_hold_ms) {
    atomic_store(&pu_malloc_state, 1);
    pu_sleep_ms(pu_hold_ms);
    pu_hold_ms = 0;
    atomic_store(&pu_malloc_state, 2);
  }
}

static void pu_leave(void) { pthread_mutex_unlock(&pu_alloc_lock); }

void *__wrap_malloc(size_t n) {
  pu_enter();
  void *p = __real_malloc(n);
  pu_leave();
  return p;
}

void *__wrap_calloc(size_t n, size_t m) {
  pu_enter();
  void *p = __real_calloc(n, m);
  pu_leave();
  return p;
}

void *__wrap_realloc(void *q, size_t n) {
  pu_enter();
  void *p = __real_realloc(q, n);
  pu_leave();
  return p;
}

void __wrap_free(void *p) {
  pu_enter();
  __real_free(p);
  pu_leave();
}

static void *volatile pu_kept;

static void *pu_malloc_holder(void *v) {
  (void)v;
  pu_hold_ms = PU_HOLD_MS;
  pu_kept = malloc(64); /* through a volatile: not elided */
  free(pu_kept);
  return NULL;
}

const struct pu_holder pu_hold_malloc = {"malloc (holding its lock)",
                                         pu_malloc_holder, &pu_malloc_state};

/* --- dlopen, in a constructor that sleeps ------------------------------- */

static atomic_int pu_ctor_state;
static int pu_ctor_pipe[2];
static pthread_t pu_ctor_watcher;
static void *pu_dlopen_handle;

static void *pu_opener(void *v) {
  (void)v;
  pu_dlopen_handle = dlopen(PARK_SLOWCTOR_SO, RTLD_NOW | RTLD_LOCAL);
  return NULL;
}

/* park_slowctor.so writes '1' when its constructor starts, '2' when it
 * ends, to the pipe named by PARK_CTOR_FD. */
static void *pu_ctor_watch(void *v) {
  (void)v;
  char c;
  while (read(pu_ctor_pipe[0], &c, 1) == 1)
    atomic_store(&pu_ctor_state, c == '1' ? 1 : 2);
  return NULL;
}

const struct pu_holder pu_hold_dlopen = {
    "dlopen (a constructor sleeping 300 ms)", pu_opener, &pu_ctor_state};

/* --- dl_iterate_phdr, in a callback that sleeps ------------------------- */

static atomic_int pu_phdr_state;

static int pu_phdr_cb(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)info;
  (void)size;
  (void)arg;
  atomic_store(&pu_phdr_state, 1);
  pu_sleep_ms(PU_HOLD_MS);
  return 1;
}

static void *pu_iterator(void *v) {
  (void)v;
  dl_iterate_phdr(pu_phdr_cb, NULL);
  atomic_store(&pu_phdr_state, 2);
  return NULL;
}

const struct pu_holder pu_hold_phdr = {
    "dl_iterate_phdr (a callback sleeping 300 ms)", pu_iterator,
    &pu_phdr_state};

/* ------------------------------------------------------------------------ */

pthread_t pu_holder_start(const struct pu_holder *h) {
  atomic_store(h->state, 0);
  if (h == &pu_hold_dlopen) {
    assert_int_equal(pipe2(pu_ctor_pipe, O_CLOEXEC), 0);
    char fd[16];
    snprintf(fd, sizeof fd, "%d", pu_ctor_pipe[1]);
    setenv("PARK_CTOR_FD", fd, 1);
    pu_ctor_watcher = pu_spawn(pu_ctor_watch, NULL);
  }
  pthread_t t = pu_spawn(h->run, NULL);
  while (atomic_load(h->state) != 1)
    pu_sleep_ms(1);
  return t;
}

void pu_holder_join(const struct pu_holder *h, pthread_t t) {
  pthread_join(t, NULL);
  if (h == &pu_hold_dlopen) {
    assert_non_null(pu_dlopen_handle);
    int (*fn)(void) =
        (int (*)(void))dlsym(pu_dlopen_handle, "park_slowctor_value");
    assert_non_null(fn);
    assert_int_equal(fn(), 42);
    close(pu_ctor_pipe[1]);
    pthread_join(pu_ctor_watcher, NULL);
    close(pu_ctor_pipe[0]);
    dlclose(pu_dlopen_handle);
    pu_dlopen_handle = NULL;
  }
  assert_int_equal(atomic_load(h->state), 2);
}
