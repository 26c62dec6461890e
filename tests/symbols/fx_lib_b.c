/* SPDX-License-Identifier: MIT */
/* Same names as fx_lib_a.c, different bodies: only STT_FILE tells them
 * apart. Same flags as fx_lib_a.c. */
#include "fx_lib.h"

/* cold: calls to it mark their block as cold, which is what gets split */
__attribute__((cold)) void fx_report(const char *what, int v);

static int fx_helper(void) { return 202; }

fx_fn *fx_lib_b_helper(void) { return &fx_helper; }

static __attribute__((noinline)) int fx_twin(int v) {
  if (__builtin_expect(v > 1000000, 0)) {
    fx_report("fx_twin b: too large", v);
    return -3;
  }
  return v * 5 - 7;
}

fx_int_fn *fx_lib_b_twin(void) { return &fx_twin; }
