/* SPDX-License-Identifier: MIT */
/*
 * A generation of the call chain lc_ga -> lc_gb -> lc_gc (test_replace_load):
 * each replacement adds its generation LC_GEN at its own decimal place, so
 * the result of one call says which generation ran at each level.
 * LC_NAME and LC_FLAGS as in lc_patch.c.
 */
#include <hotpatch.h>

long lc_gb(long x);
long lc_gc(long x);
void lc_spin(int n);

/* Each level spins before it calls the next: a thread is often between
 * two levels when the others park, which is where a switch that is not
 * at a safe point would show as a mix. */
static long gen_a(long x) {
  lc_spin(100);
  return LC_GEN * 10000 + lc_gb(x);
}
static long gen_b(long x) {
  lc_spin(100);
  return LC_GEN * 100 + lc_gc(x);
}
static long gen_c(long x) {
  lc_spin(100);
  return LC_GEN + 0 * x;
}

HOTPATCH_DEFINE(.name = LC_NAME, .flags = LC_FLAGS,
                .funcs = (const struct hotpatch_func[]){
                    {.target = "lc_ga", .replacement = (void *)gen_a},
                    {.target = "lc_gb", .replacement = (void *)gen_b},
                    {.target = "lc_gc", .replacement = (void *)gen_c},
                    {0}});
