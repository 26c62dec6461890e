/* SPDX-License-Identifier: MIT */
/*
 * The sleeping-in-F scenario again, built with -mbranch-protection=pac-ret
 * on aarch64: fx_pac_block signs the return address into fx_pac_outer
 * (PACIASP) before it stores it, so the stack holds it with its
 * authentication code in the top bits.
 */
#include "hp_test.h"

#include "sp_fixtures.h"

SP_FX(pac_block) void fx_pac_block(struct sp_worker *w) {
  sp_block(w);
  __asm__ volatile("" ::: "memory");
}

SP_FX(pac_outer) void fx_pac_outer(struct sp_worker *w) {
  fx_pac_block(w);
  __asm__ volatile("" ::: "memory");
}

/* Signed return addresses many frames deep. */
SP_FX(pac_recurse) void fx_pac_recurse(struct sp_worker *w, unsigned depth) {
  if (depth)
    fx_pac_recurse(w, depth - 1);
  else
    sp_block(w);
  __asm__ volatile("" ::: "memory");
}

SP_FX(pac_deep) void fx_pac_deep(struct sp_worker *w) {
  fx_pac_recurse(w, SP_PAC_DEPTH);
  __asm__ volatile("" ::: "memory");
}

SP_FX(pac_stale) void fx_pac_stale(struct sp_worker *w) {
  volatile uintptr_t slot = 0;
  fx_stale_hot(&slot);
  fx_pac_recurse(w, 8);
  if (w->quit == 2) /* never: keeps slot */
    w->arg = (void *)slot;
  __asm__ volatile("" ::: "memory");
}
