/* SPDX-License-Identifier: MIT */
/* Fixture code linked into the test executables (PIE and -no-pie). */
#ifndef FX_EXE_H
#define FX_EXE_H

typedef int fx_exe_fn(void);

/* fx_exe_a.c and fx_exe_b.c each have `static int fx_helper(void)`. */
fx_exe_fn *fx_exe_a_helper(void);
fx_exe_fn *fx_exe_b_helper(void);

/* A global of the executable (fx_exe_a.c). */
int fx_exe_global(void);

#endif
