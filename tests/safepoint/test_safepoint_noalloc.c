/* SPDX-License-Identifier: MIT */
/*
 * The check allocates nothing and never calls dl_iterate_phdr: this binary
 * interposes the allocator (forwarding to the next one: libc's, or the
 * sanitizer's) and dl_iterate_phdr, and counts the calls made while the
 * check runs, with every other thread parked — one of them inside
 * dl_iterate_phdr's callback (holding the loader's lock), and the
 * unwinder walking through it. Mutexes and signal masks taken meanwhile
 * (libunwind's memory pools) are counted and printed.
 */
#include "hp_test.h"

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_fixtures.h"

/* Default visibility (the build hides everything): exported, so that the
 * shared libraries — libunwind's — call these too, not only this file. */
#define SP_INTERPOSE __attribute__((visibility("default")))

static int armed;
static unsigned long calls_while_armed;

static void *(*next_malloc)(size_t);
static void *(*next_calloc)(size_t, size_t);
static void *(*next_realloc)(void *, size_t);
static void (*next_free)(void *);
static int (*next_memalign)(void **, size_t, size_t);
static void *(*next_aligned)(size_t, size_t);
static int (*next_dl_iterate_phdr)(int (*)(struct dl_phdr_info *, size_t,
                                           void *),
                                   void *);
static int (*next_mutex_lock)(pthread_mutex_t *);
static int (*next_sigprocmask)(int, const sigset_t *, sigset_t *);
static void *(*next_mmap)(void *, size_t, int, int, int, off_t);
static unsigned long dl_calls_while_armed, locks_while_armed, masks_while_armed,
    maps_while_armed;

/* dlsym may allocate while the next allocator is being looked up: those
 * few bytes come from here and are never freed. */
static _Alignas(16) char boot[4096];
static size_t boot_used;
static __thread int resolving;

static void *boot_alloc(size_t n) {
  n = (n + 15) & ~(size_t)15;
  if (boot_used + n > sizeof boot)
    abort();
  void *p = boot + boot_used;
  boot_used += n;
  return p;
}

static int from_boot(const void *p) {
  return (const char *)p >= boot && (const char *)p < boot + sizeof boot;
}

static void resolve(void) {
  if (next_free)
    return;
  resolving = 1;
  next_malloc = dlsym(RTLD_NEXT, "malloc");
  next_calloc = dlsym(RTLD_NEXT, "calloc");
  next_realloc = dlsym(RTLD_NEXT, "realloc");
  next_memalign = dlsym(RTLD_NEXT, "posix_memalign");
  next_aligned = dlsym(RTLD_NEXT, "aligned_alloc");
  next_free = dlsym(RTLD_NEXT, "free");
  next_dl_iterate_phdr = dlsym(RTLD_NEXT, "dl_iterate_phdr");
  next_mutex_lock = dlsym(RTLD_NEXT, "pthread_mutex_lock");
  next_sigprocmask = dlsym(RTLD_NEXT, "sigprocmask");
  next_mmap = dlsym(RTLD_NEXT, "mmap");
  resolving = 0;
}

static void count(void) {
  if (__atomic_load_n(&armed, __ATOMIC_RELAXED))
    __atomic_add_fetch(&calls_while_armed, 1, __ATOMIC_RELAXED);
}

SP_INTERPOSE void *malloc(size_t n) {
  count();
  if (resolving)
    return boot_alloc(n);
  resolve();
  return next_malloc(n);
}

SP_INTERPOSE void *calloc(size_t a, size_t b) {
  count();
  if (resolving)
    return boot_alloc(a * b); /* static: already zero */
  resolve();
  return next_calloc(a, b);
}

SP_INTERPOSE void *realloc(void *p, size_t n) {
  count();
  resolve();
  if (from_boot(p)) {
    void *q = next_malloc(n);
    size_t left = (size_t)(boot + sizeof boot - (char *)p);
    if (q)
      memcpy(q, p, n < left ? n : left);
    return q;
  }
  return next_realloc(p, n);
}

SP_INTERPOSE int posix_memalign(void **out, size_t align, size_t n) {
  count();
  resolve();
  return next_memalign(out, align, n);
}

SP_INTERPOSE void *aligned_alloc(size_t align, size_t n) {
  count();
  resolve();
  return next_aligned(align, n);
}

SP_INTERPOSE void free(void *p) {
  if (!p || from_boot(p))
    return;
  resolve();
  next_free(p);
}

/* While armed, a call fails at once rather than wait for the lock the
 * parked thread holds: the count says it happened. */
SP_INTERPOSE int
dl_iterate_phdr(int (*cb)(struct dl_phdr_info *, size_t, void *), void *arg) {
  if (__atomic_load_n(&armed, __ATOMIC_RELAXED)) {
    __atomic_add_fetch(&dl_calls_while_armed, 1, __ATOMIC_RELAXED);
    return 0;
  }
  resolve();
  return next_dl_iterate_phdr(cb, arg);
}

SP_INTERPOSE int pthread_mutex_lock(pthread_mutex_t *m) {
  if (__atomic_load_n(&armed, __ATOMIC_RELAXED))
    __atomic_add_fetch(&locks_while_armed, 1, __ATOMIC_RELAXED);
  if (!next_mutex_lock) /* before resolve(): dlsym may lock */
    next_mutex_lock = dlsym(RTLD_NEXT, "pthread_mutex_lock");
  return next_mutex_lock(m);
}

SP_INTERPOSE int sigprocmask(int how, const sigset_t *set, sigset_t *old) {
  if (__atomic_load_n(&armed, __ATOMIC_RELAXED))
    __atomic_add_fetch(&masks_while_armed, 1, __ATOMIC_RELAXED);
  resolve();
  return next_sigprocmask(how, set, old);
}

/* libunwind's pools grow by mmap: none while armed means nothing leaks
 * into them walk after walk. */
SP_INTERPOSE void *mmap(void *a, size_t n, int prot, int flags, int fd,
                        off_t off) {
  if (__atomic_load_n(&armed, __ATOMIC_RELAXED))
    __atomic_add_fetch(&maps_while_armed, 1, __ATOMIC_RELAXED);
  resolve();
  return next_mmap(a, n, prot, flags, fd, off);
}

static int block_in_callback(struct dl_phdr_info *info, size_t size,
                             void *arg) {
  sp_block(arg);
  return 1;
}

/* A stale return address in its frame, then asleep in the callback: the
 * walk goes through dl_iterate_phdr's frames to reach the slot. */
static void sleep_in_dl_iterate_phdr(struct sp_worker *w) {
  volatile uintptr_t slot = 0;
  fx_stale_hot(&slot);
  dl_iterate_phdr(block_in_callback, w);
  if (w->quit == 2) /* never: keeps slot */
    w->arg = (void *)slot;
  __asm__ volatile("" ::: "memory");
}

static struct sp_world world;

#ifndef SP_ROUNDS
#define SP_ROUNDS 100
#endif

static void check_neither_allocates_nor_calls_dl_iterate_phdr(void **st) {
  /* The interposer counts: an allocation while armed is seen. */
  void *(*volatile m)(size_t) = malloc;
  void (*volatile f)(void *) = free;
  __atomic_store_n(&armed, 1, __ATOMIC_SEQ_CST);
  f(m(32));
  __atomic_store_n(&armed, 0, __ATOMIC_SEQ_CST);
  assert_int_equal(calls_while_armed, 1);
  calls_while_armed = 0;

  enum { N = 6 };
  struct sp_worker w[N];
  struct sp_worker *all[N];
  void (*run[N])(struct sp_worker *) = {fx_sleep_in_f,
                                        fx_coop_in_f,
                                        fx_sleep_in_f,
                                        fx_stale_keeper,
                                        sleep_in_dl_iterate_phdr,
                                        fx_outer};
  struct hp_hot hot[2] = {SP_FX_HOT(elsewhere, 0), SP_FX_HOT(outer, 0)};
  struct hp_hot stale = sp_hot("fx_stale_hot", __start_sp_fx_stale_hot,
                               __stop_sp_fx_stale_hot, 0);
  struct hp_safepoint sp_safe, sp_unsafe, sp_stale;
  const struct hp_slot *who;
  const struct hp_hot *why;
  const char *reason;
  assert_int_equal(hp_safepoint_prepare(&sp_safe, hot, 1), 0);
  assert_int_equal(hp_safepoint_prepare(&sp_unsafe, hot, 2), 0);
  assert_int_equal(hp_safepoint_prepare(&sp_stale, &stale, 1), 0);
  assert_non_null(sp_stale.uw);
  /* Prepared first: prepare takes the module snapshot with
   * dl_iterate_phdr, which waits for the thread asleep in its callback. */
  for (int i = 0; i < N; i++) {
    w[i] = (struct sp_worker){.run = run[i], .cooperative = i == 1};
    all[i] = &w[i];
    sp_start(&w[i]);
  }
  sp_park(&world, all, N);
  __atomic_store_n(&armed, 1, __ATOMIC_SEQ_CST);
  int rc_safe = 0, rc_unsafe = 0, rc_stale = 0;
  for (int r = 0; r < SP_ROUNDS; r++) {
    rc_safe |= hp_safepoint_check(&sp_safe, &world.park, &who, &why, &reason);
    rc_stale |= hp_safepoint_check(&sp_stale, &world.park, &who, &why, &reason);
    rc_unsafe =
        hp_safepoint_check(&sp_unsafe, &world.park, &who, &why, &reason);
  }
  __atomic_store_n(&armed, 0, __ATOMIC_SEQ_CST);
  sp_unpark(&world);
  unsigned long walks, steps;
  hp_unwind_counts(sp_stale.uw, &walks, &steps);
  fprintf(stderr,
          "  during %d checks: %lu allocator call(s), %lu dl_iterate_phdr "
          "call(s), %lu mmap(s); %lu walk(s), %lu step(s), %lu stale "
          "hit(s); %lu mutex lock(s), %lu sigprocmask call(s)\n",
          3 * SP_ROUNDS, calls_while_armed, dl_calls_while_armed,
          maps_while_armed, walks, steps, sp_stale.stale, locks_while_armed,
          masks_while_armed);
  assert_int_equal(calls_while_armed, 0);
  assert_int_equal(dl_calls_while_armed, 0);
  assert_int_equal(maps_while_armed, 0);
  assert_int_equal(rc_safe, 0);
  assert_int_equal(rc_stale, 0);
  assert_true(walks >= 2 * SP_ROUNDS); /* both stale threads, every check */
  assert_true(sp_stale.stale >= 2 * SP_ROUNDS);
  assert_int_equal(rc_unsafe, HOTPATCH_EBUSY);
  assert_ptr_equal(who, &world.slot[N - 1]);
  assert_ptr_equal(why, &hot[1]);
  hp_safepoint_finish(&sp_safe);
  hp_safepoint_finish(&sp_unsafe);
  hp_safepoint_finish(&sp_stale);
  for (int i = 0; i < N; i++)
    sp_finish(&w[i]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(check_neither_allocates_nor_calls_dl_iterate_phdr),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
