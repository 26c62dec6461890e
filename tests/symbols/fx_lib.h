/* SPDX-License-Identifier: MIT */
/*
 * The fixture library libfx_lib.so. Each accessor returns the address of a
 * function as the fixture's own code sees it, which is what the resolver
 * must compute from the symbol table.
 */
#ifndef FX_LIB_H
#define FX_LIB_H

typedef int fx_fn(void);
typedef int fx_int_fn(int);
typedef int fx_int2_fn(int, int);

/* fx_lib_a.c and fx_lib_b.c: each has its own `static int fx_helper(void)`
 * and `static int fx_twin(int)` (split into fx_twin.cold). */
fx_fn *fx_lib_a_helper(void);
fx_fn *fx_lib_b_helper(void);
fx_int_fn *fx_lib_a_twin(void);
fx_int_fn *fx_lib_b_twin(void);

/* fx_lib_a.c */
int fx_pick(void);     /* IFUNC resolved by fx_pick_resolver */
int fx_aliased(int v); /* also called fx_alias_name */
int fx_alias_name(int v);
int fx_split(int v); /* has fx_split.cold */
fx_int_fn *fx_split_addr(void);
fx_int_fn *fx_aliased_addr(void);

/* fx_lib_clone.c: fx_scaled exists next to fx_scaled.constprop.0; of
 * fx_lonely only fx_lonely.constprop.0 is left. */
fx_int2_fn *fx_scaled_addr(void);
int fx_use_scaled(int v);
int fx_use_lonely(int v);

#endif
