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
