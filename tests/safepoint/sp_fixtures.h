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
SP_FX_DECL(leaf_caller);    /* calls the leaf fx_leaf_spin */
SP_FX_DECL(calls_at_entry); /* calls fx_spin_at_entry through a local */
SP_FX_DECL(coop_in_f);      /* a cooperative thread parked under F */
SP_FX_DECL(deep);           /* alloca((size_t)w->arg), then blocks */
SP_FX_DECL(pac_outer);      /* sp_fx_pac.c: built with pac-ret on aarch64 */
SP_FX_DECL(pac_block);

/* Stale return addresses (sp_fixtures.c): fx_stale_hot, the hot function,
 * calls fx_stale_grab, which stores its own return address — into
 * fx_stale_hot — in *slot. Each fixture below keeps such a slot in a live
 * local of its frame, then ends up blocked or spinning. */
SP_FX_DECL(stale_keeper);    /* then blocks in sp_block */
SP_FX_DECL(stale_under_f);   /* F: calls fx_stale_keeper (through */
SP_FX_DECL(stale_mid);       /* this one) */
SP_FX_DECL(stale_nocfi);     /* blocks under fx_nocfi_call (no CFI) */
SP_FX_DECL(calls_cfi_entry); /* spins on fx_cfi_entry_spin's entry */
SP_FX_DECL(stale_in_block);  /* spins in the code at w->arg */
SP_FX_DECL(leaf_cfi_caller); /* spins in fx_leaf_cfi_spin (a leaf) */
SP_FX_DECL(leaf_cfi_outer);  /* calls fx_leaf_cfi_caller */
SP_FX_DECL(stale_deep);      /* blocks (uintptr_t)w->arg frames deeper */
SP_FX_DECL(stale_late);      /* blocks under w->arg(sp_block, w) */
SP_FX_DECL(pac_deep);        /* sp_fx_pac.c: SP_PAC_DEPTH signed frames */
SP_FX_DECL(pac_stale);       /* sp_fx_pac.c: a slot, then signed frames */
extern char __start_sp_fx_stale_hot[], __stop_sp_fx_stale_hot[];
void fx_stale_hot(volatile uintptr_t *slot);
void fx_stale_grab(volatile uintptr_t *slot);
void fx_recurse(struct sp_worker *w, unsigned depth);
extern char __start_sp_fx_recurse[], __stop_sp_fx_recurse[];
#define SP_PAC_DEPTH 64u

/* sp_fx.S */
void fx_leaf_spin(uint32_t *ready, const uint32_t *quit);
void fx_spin_at_entry(void);
void fx_spin_exit(void);
extern char fx_leaf_spin_end[], fx_spin_at_entry_end[];
void fx_leaf_cfi_spin(uint32_t *ready, const uint32_t *quit);
void fx_nocfi_call(struct sp_worker *w, void (*fn)(struct sp_worker *));
void fx_cfi_prev(void);
void fx_cfi_entry_spin(void);
extern char fx_cfi_entry_spin_end[];

/* What the overwritten bytes at an entry are in the tests' inner-only
 * ranges: a near jump. */
#if defined(__x86_64__)
#define SP_SITE_LEN 5
#else
#define SP_SITE_LEN 4
#endif

#endif
