/* SPDX-License-Identifier: MIT */
/*
 * The check allocates nothing: this binary interposes the allocator
 * (forwarding to the next one: libc's, or the sanitizer's) and counts the
 * calls made while the check runs, with every other thread parked.
 */
#include "hp_test.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sp_fixtures.h"

static int armed;
static unsigned long calls_while_armed;

static void *(*next_malloc)(size_t);
static void *(*next_calloc)(size_t, size_t);
static void *(*next_realloc)(void *, size_t);
static void (*next_free)(void *);
static int (*next_memalign)(void **, size_t, size_t);
static void *(*next_aligned)(size_t, size_t);

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
  resolving = 0;
}

static void count(void) {
  if (__atomic_load_n(&armed, __ATOMIC_RELAXED))
    __atomic_add_fetch(&calls_while_armed, 1, __ATOMIC_RELAXED);
}

void *malloc(size_t n) {
  count();
  if (resolving)
    return boot_alloc(n);
  resolve();
  return next_malloc(n);
}

void *calloc(size_t a, size_t b) {
  count();
  if (resolving)
    return boot_alloc(a * b); /* static: already zero */
  resolve();
  return next_calloc(a, b);
}

void *realloc(void *p, size_t n) {
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

int posix_memalign(void **out, size_t align, size_t n) {
  count();
  resolve();
  return next_memalign(out, align, n);
}

void *aligned_alloc(size_t align, size_t n) {
  count();
  resolve();
  return next_aligned(align, n);
}

void free(void *p) {
  if (!p || from_boot(p))
    return;
  resolve();
  next_free(p);
}

static struct sp_world world;

static void check_allocates_nothing_while_threads_are_parked(void **st) {
  /* The interposer counts: an allocation while armed is seen. */
  void *(*volatile m)(size_t) = malloc;
  void (*volatile f)(void *) = free;
  __atomic_store_n(&armed, 1, __ATOMIC_SEQ_CST);
  f(m(32));
  __atomic_store_n(&armed, 0, __ATOMIC_SEQ_CST);
  assert_int_equal(calls_while_armed, 1);
  calls_while_armed = 0;

  enum { N = 4 };
  struct sp_worker w[N];
  struct sp_worker *all[N];
  for (int i = 0; i < N; i++) {
    w[i] = (struct sp_worker){.run = i == N - 1 ? fx_outer : fx_sleep_in_f,
                              .cooperative = i == 1};
    if (i == 1)
      w[i].run = fx_coop_in_f;
    all[i] = &w[i];
    sp_start(&w[i]);
  }
  struct hp_hot hot[2] = {SP_FX_HOT(elsewhere, 0), SP_FX_HOT(outer, 0)};
  struct hp_safepoint sp_safe, sp_unsafe;
  const struct hp_slot *who;
  const struct hp_hot *why;
  const char *reason;
  assert_int_equal(hp_safepoint_prepare(&sp_safe, hot, 1), 0);
  assert_int_equal(hp_safepoint_prepare(&sp_unsafe, hot, 2), 0);
  sp_park(&world, all, N);
  __atomic_store_n(&armed, 1, __ATOMIC_SEQ_CST);
  int rc_safe = 0, rc_unsafe = 0;
  for (int r = 0; r < 10; r++) {
    rc_safe |= hp_safepoint_check(&sp_safe, &world.park, &who, &why, &reason);
    rc_unsafe =
        hp_safepoint_check(&sp_unsafe, &world.park, &who, &why, &reason);
  }
  __atomic_store_n(&armed, 0, __ATOMIC_SEQ_CST);
  sp_unpark(&world);
  fprintf(stderr, "  allocator calls during 20 checks: %lu\n",
          calls_while_armed);
  assert_int_equal(calls_while_armed, 0);
  assert_int_equal(rc_safe, 0);
  assert_int_equal(rc_unsafe, HOTPATCH_EBUSY);
  assert_ptr_equal(who, &world.slot[N - 1]);
  assert_ptr_equal(why, &hot[1]);
  hp_safepoint_finish(&sp_safe);
  hp_safepoint_finish(&sp_unsafe);
  for (int i = 0; i < N; i++)
    sp_finish(&w[i]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(check_allocates_nothing_while_threads_are_parked),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
