/* SPDX-License-Identifier: MIT */
/*
 * The functions the scenarios stop in. Each C fixture sits alone in a
 * section named after it, so the linker's __start_/__stop_ symbols give
 * its exact extent: SP_FX_HOT(name, inner_only) is its hot range.
 */
#ifndef SP_FIXTURES_H
#define SP_FIXTURES_H

#include "sp_harness.h"

#define SP_FX(name)                                                            \
  __attribute__((noinline, noclone, used, section("sp_fx_" #name)))
#define SP_FX_DECL(name)                                                       \
  extern char __start_sp_fx_##name[], __stop_sp_fx_##name[];                   \
  void fx_##name(struct sp_worker *w)
#define SP_FX_HOT(name, inner)                                                 \
  sp_hot("fx_" #name, __start_sp_fx_##name, __stop_sp_fx_##name, inner)

SP_FX_DECL(sleep_in_f); /* F: blocks in sp_block */
SP_FX_DECL(elsewhere);  /* never called while a worker is stopped */
SP_FX_DECL(outer);      /* calls fx_middle, which blocks */
SP_FX_DECL(middle);
SP_FX_DECL(holds_pointer); /* a pointer to fx_target in a live local */
SP_FX_DECL(target);
SP_FX_DECL(leaf_caller);          /* calls the leaf fx_leaf_spin */
SP_FX_DECL(calls_at_entry);       /* calls fx_spin_at_entry through a local */
SP_FX_DECL(calls_entry_directly); /* calls fx_spin_at_entry directly */
SP_FX_DECL(coop_in_f);            /* a cooperative thread parked under F */
SP_FX_DECL(deep);                 /* alloca((size_t)w->arg), then blocks */
SP_FX_DECL(pac_outer); /* sp_fx_pac.c: built with pac-ret on aarch64 */
SP_FX_DECL(pac_block);

/* sp_fx.S */
void fx_leaf_spin(uint32_t *ready, const uint32_t *quit);
void fx_spin_at_entry(void);
void fx_spin_exit(void);
extern char fx_leaf_spin_end[], fx_spin_at_entry_end[];

/* What the overwritten bytes at an entry are in the tests' inner-only
 * ranges: a near jump. */
#if defined(__x86_64__)
#define SP_SITE_LEN 5
#else
#define SP_SITE_LEN 4
#endif

#endif
