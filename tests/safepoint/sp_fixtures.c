/* SPDX-License-Identifier: MIT */
#include "hp_test.h"

#include "sp_fixtures.h"

/* Each call is followed by a barrier, so none becomes a tail call: the
 * caller's frame, and the return address into it, stay live. */
#define SP_NO_TAIL() __asm__ volatile("" ::: "memory")

SP_FX(sleep_in_f) void fx_sleep_in_f(struct sp_worker *w) {
  sp_block(w);
  SP_NO_TAIL();
}

SP_FX(elsewhere) void fx_elsewhere(struct sp_worker *w) {
  w->arg = (void *)fx_elsewhere;
  SP_NO_TAIL();
}

SP_FX(middle) void fx_middle(struct sp_worker *w) {
  sp_block(w);
  SP_NO_TAIL();
}

SP_FX(outer) void fx_outer(struct sp_worker *w) {
  fx_middle(w);
  SP_NO_TAIL();
}

SP_FX(target) void fx_target(struct sp_worker *w) {
  w->arg = (void *)fx_target;
  SP_NO_TAIL();
}

SP_FX(holds_pointer) void fx_holds_pointer(struct sp_worker *w) {
  /* volatile: kept in its stack slot across the call. */
  void (*volatile fp)(struct sp_worker *) = fx_target;
  sp_block(w);
  if (w->quit == 2) /* never: keeps fp live */
    fp(w);
  SP_NO_TAIL();
}

SP_FX(leaf_caller) void fx_leaf_caller(struct sp_worker *w) {
  fx_leaf_spin(&w->ready, &w->quit);
  SP_NO_TAIL();
}

SP_FX(calls_at_entry) void fx_calls_at_entry(struct sp_worker *w) {
  void (*volatile fp)(void) = fx_spin_at_entry;
  __atomic_store_n(&w->ready, 1, __ATOMIC_RELEASE);
  fp();
  SP_NO_TAIL();
}

SP_FX(coop_in_f) void fx_coop_in_f(struct sp_worker *w) {
  sp_coop_block(w);
  SP_NO_TAIL();
}

/* Defined elsewhere so the compiler cannot drop the allocation. */
void sp_fx_touch(volatile char *p, size_t n);

SP_FX(deep) void fx_deep(struct sp_worker *w) {
  size_t n = (size_t)w->arg;
  volatile char *p = __builtin_alloca(n);
  sp_fx_touch(p, n);
  sp_block(w);
  SP_NO_TAIL();
}

__attribute__((noinline)) void sp_fx_touch(volatile char *p, size_t n) {
  p[0] = 1;
  p[n - 1] = 1;
}

/* ---- Stale return addresses: for the unwinder's confirmation. ---- */

SP_FX(stale_grab) void fx_stale_grab(volatile uintptr_t *slot) {
  *slot = (uintptr_t)__builtin_return_address(0);
  SP_NO_TAIL();
}

SP_FX(stale_hot) void fx_stale_hot(volatile uintptr_t *slot) {
  fx_stale_grab(slot);
  SP_NO_TAIL();
}

/* `slot` is volatile: kept in the frame, read after the block. */
#define SP_KEEP(w, slot)                                                       \
  do {                                                                         \
    if ((w)->quit == 2) /* never */                                            \
      (w)->arg = (void *)(slot);                                               \
  } while (0)

SP_FX(stale_keeper) void fx_stale_keeper(struct sp_worker *w) {
  volatile uintptr_t slot = 0;
  fx_stale_hot(&slot);
  sp_block(w);
  SP_KEEP(w, slot);
  SP_NO_TAIL();
}

/* Between F and the keeper, so that F's return address is in a frame
 * above the keeper's whatever the frame layout. */
SP_FX(stale_mid) void fx_stale_mid(struct sp_worker *w) {
  fx_stale_keeper(w);
  SP_NO_TAIL();
}

SP_FX(stale_under_f) void fx_stale_under_f(struct sp_worker *w) {
  fx_stale_mid(w);
  SP_NO_TAIL();
}

SP_FX(stale_nocfi) void fx_stale_nocfi(struct sp_worker *w) {
  volatile uintptr_t slot = 0;
  fx_stale_hot(&slot);
  fx_nocfi_call(w, sp_block);
  SP_KEEP(w, slot);
  SP_NO_TAIL();
}

SP_FX(calls_cfi_entry) void fx_calls_cfi_entry(struct sp_worker *w) {
  volatile uintptr_t slot = 0;
  void (*volatile fp)(void) = fx_cfi_entry_spin;
  fx_stale_hot(&slot);
  __atomic_store_n(&w->ready, 1, __ATOMIC_RELEASE);
  fp();
  SP_KEEP(w, slot);
  SP_NO_TAIL();
}

SP_FX(stale_in_block) void fx_stale_in_block(struct sp_worker *w) {
  volatile uintptr_t slot = 0;
  void (*spin)(uint32_t *, const uint32_t *) = w->arg;
  fx_stale_hot(&slot);
  spin(&w->ready, &w->quit);
  SP_KEEP(w, slot);
  SP_NO_TAIL();
}

SP_FX(leaf_cfi_caller) void fx_leaf_cfi_caller(struct sp_worker *w) {
  volatile uintptr_t slot = 0;
  fx_stale_hot(&slot);
  fx_leaf_cfi_spin(&w->ready, &w->quit);
  SP_KEEP(w, slot);
  SP_NO_TAIL();
}

SP_FX(leaf_cfi_outer) void fx_leaf_cfi_outer(struct sp_worker *w) {
  fx_leaf_cfi_caller(w);
  SP_NO_TAIL();
}

SP_FX(recurse) void fx_recurse(struct sp_worker *w, unsigned depth) {
  if (depth)
    fx_recurse(w, depth - 1);
  else
    sp_block(w);
  SP_NO_TAIL();
}

SP_FX(stale_deep) void fx_stale_deep(struct sp_worker *w) {
  volatile uintptr_t slot = 0;
  fx_stale_hot(&slot);
  fx_recurse(w, (unsigned)(uintptr_t)w->arg);
  SP_KEEP(w, slot);
  SP_NO_TAIL();
}

SP_FX(stale_late) void fx_stale_late(struct sp_worker *w) {
  volatile uintptr_t slot = 0;
  void (*call)(void (*)(void *), void *) = w->arg;
  fx_stale_hot(&slot);
  call((void (*)(void *))sp_block, w);
  SP_KEEP(w, slot);
  SP_NO_TAIL();
}
