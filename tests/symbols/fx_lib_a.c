/* SPDX-License-Identifier: MIT */
/* Built with -O2 -freorder-blocks-and-partition (tests/symbols/CMakeLists.txt):
 * the partition pass is what splits fx_split and fx_twin into a hot entry
 * and a .cold part; GCC 12 enables it by default on x86_64 only. */
#include <stdio.h>

#include "fx_lib.h"

static int fx_helper(void) { return 101; }

fx_fn *fx_lib_a_helper(void) { return &fx_helper; }

/* An IFUNC: the symbol fx_pick is the resolver's, not the function's. */
static int fx_pick_impl(void) { return 42; }
static fx_fn *fx_pick_resolver(void) { return &fx_pick_impl; }
int fx_pick(void) __attribute__((ifunc("fx_pick_resolver")));

/* Two names, one function. */
int fx_aliased(int v) { return v * 7 + 3; }
extern __typeof__(fx_aliased) fx_alias_name
    __attribute__((alias("fx_aliased")));
fx_int_fn *fx_aliased_addr(void) { return &fx_aliased; }

__attribute__((cold, noinline)) void fx_report(const char *what, int v);
__attribute__((cold, noinline)) void fx_report(const char *what, int v) {
  fprintf(stderr, "fx_lib: %s %d\n", what, v);
}

/* The unlikely branch goes to fx_split.cold. */
int fx_split(int v) {
  if (__builtin_expect(v < 0, 0)) {
    fx_report("fx_split: negative", v);
    return -1;
  }
  return v * 3 + 1;
}

fx_int_fn *fx_split_addr(void) { return &fx_split; }

static __attribute__((noinline)) int fx_twin(int v) {
  if (__builtin_expect(v < 0, 0)) {
    fx_report("fx_twin a: negative", v);
    return -2;
  }
  return v + 11;
}

fx_int_fn *fx_lib_a_twin(void) { return &fx_twin; }
