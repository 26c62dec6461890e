/* SPDX-License-Identifier: MIT */
/*
 * A thread held inside ld.so's lazy-binding resolver. Linked with
 * -z lazy: the first call of sp_lazy_target through the PLT enters
 * _dl_runtime_resolve, which finds an IFUNC and calls its resolver, and
 * the resolver spins until the test lets it go. Meanwhile the return
 * address into sp_lazy_caller lies above the resolver's register save
 * area (xsave on x86_64: more than 1 KiB).
 */
#include <stdint.h>

static volatile uint32_t armed, inside, go;

static int target_impl(void) { return 41; }

/* No calls: it runs in the middle of the loader's symbol fixup. Not armed
 * (a loader that resolved it at load time): returns at once. */
typedef int (*sp_lazy_fn)(void);

static sp_lazy_fn resolve_target(void) {
  if (__atomic_load_n(&armed, __ATOMIC_ACQUIRE)) {
    __atomic_store_n(&inside, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE))
      __asm__ volatile("" ::: "memory");
  }
  return target_impl;
}

__attribute__((visibility("default"))) int sp_lazy_target(void)
    __attribute__((ifunc("resolve_target")));

/* Alone in its section: the test's hot range is exactly this function. */
__attribute__((visibility("default"), noinline, section("sp_lazy_hot"))) int
sp_lazy_caller(void) {
  int r = sp_lazy_target() + 1;
  __asm__ volatile("" ::: "memory"); /* no tail call: the frame stays */
  return r;
}

extern char __start_sp_lazy_hot[], __stop_sp_lazy_hot[];

__attribute__((visibility("default"))) void sp_lazy_range(uintptr_t *lo,
                                                          uintptr_t *hi) {
  *lo = (uintptr_t)__start_sp_lazy_hot;
  *hi = (uintptr_t)__stop_sp_lazy_hot;
}

__attribute__((visibility("default"))) void sp_lazy_arm(void) {
  __atomic_store_n(&armed, 1, __ATOMIC_RELEASE);
}

__attribute__((visibility("default"))) int sp_lazy_inside(void) {
  return (int)__atomic_load_n(&inside, __ATOMIC_ACQUIRE);
}

__attribute__((visibility("default"))) void sp_lazy_release(void) {
  __atomic_store_n(&go, 1, __ATOMIC_RELEASE);
}
