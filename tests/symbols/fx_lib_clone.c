/* SPDX-License-Identifier: MIT */
/* Built with -O2 -fipa-cp-clone (part of -O3): interprocedural constant
 * propagation then specialises fx_scaled for k == 7 into
 * fx_scaled.constprop.0 while the original stays, because its address is
 * taken. fx_lonely has only direct callers, so plain -O2 already replaces it
 * by its clone. */
#include "fx_lib.h"

static __attribute__((noinline)) int fx_scaled(int v, int k) {
  volatile int s = 0;
  for (int i = 0; i < k; i++)
    s += v * i;
  return s;
}

fx_int2_fn *fx_scaled_addr(void) { return &fx_scaled; }

int fx_use_scaled(int v) { return fx_scaled(v, 7) + fx_scaled(v + 1, 7); }

static __attribute__((noinline)) int fx_lonely(int v, int k) {
  volatile int s = 1;
  for (int i = 0; i < k; i++)
    s *= v + i;
  return s;
}

int fx_use_lonely(int v) { return fx_lonely(v, 5) + fx_lonely(v + 2, 5); }
